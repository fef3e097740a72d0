package watch_test

import (
	"fmt"

	"github.com/arbor-coord/arbor/watch"
)

// The server's owner goroutine registers watches as reads succeed and fires
// each applied event, delivering only to watchers allowed to read the node.
func Example() {
	r := watch.New(watch.Config{MaxPerWatcher: 1000})
	const alice, bob, carol watch.WatcherID = 1, 2, 3

	_ = r.Add(alice, "/config", watch.Data)                     // exists on a missing node
	_ = r.Add(bob, "/config", watch.Child)                      // getChildren
	_ = r.Add(carol, "/", watch.PersistentRecursive)            // addWatch / recursive
	_ = r.Add(carol, "/config", watch.Persistent)               // addWatch /config
	canRead := func(w watch.WatcherID) bool { return w != bob } // from the node's ACL

	for _, ev := range []watch.Event{
		{Type: watch.NodeCreated, Path: "/config", Zxid: 10},
		{Type: watch.NodeChildrenChanged, Path: "/", Zxid: 10},
		{Type: watch.NodeDataChanged, Path: "/config", Zxid: 11},
		{Type: watch.NodeDeleted, Path: "/config", Zxid: 12},
	} {
		for _, d := range r.Fire(ev, canRead) {
			fmt.Printf("%d %s %s to watcher %d (%s)\n", d.Event.Zxid, d.Event.Type, d.Event.Path, d.Watcher, d.Kind)
		}
	}
	fmt.Println("bob's watches:", r.Watches(bob))
	fmt.Printf("%+v\n", r.Stats())
	// Output:
	// 10 NodeCreated /config to watcher 1 (Data)
	// 10 NodeCreated /config to watcher 3 (Persistent|PersistentRecursive)
	// 11 NodeDataChanged /config to watcher 3 (Persistent|PersistentRecursive)
	// 12 NodeDeleted /config to watcher 3 (Persistent|PersistentRecursive)
	// bob's watches: [{/config Child}]
	// {Watchers:2 Paths:2 Watches:3}
}
