package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/arbor-coord/arbor/client"
)

// TestSemanticsWatchDataOneShot checks a data watch: it fires once, for
// the first change, with the change's zxid, and is then gone; a new watch
// fires for a later change only.
func TestSemanticsWatchDataOneShot(t *testing.T) {
	w := connect(t, nil)
	root := testRoot(t, w)
	writer := connect(t, nil)
	p := mustCreate(t, w, root+"/n", []byte("v0"))

	_, _, ch, err := w.GetW(ctxT(t), p)
	mustOK(t, err, "getW")
	st1, err := writer.Set(ctxT(t), p, []byte("v1"), -1)
	mustOK(t, err, "set v1")
	st2, err := writer.Set(ctxT(t), p, []byte("v2"), -1)
	mustOK(t, err, "set v2")
	wantEvent(t, ch, client.EventNodeDataChanged, p, st1.Mzxid)
	wantClosed(t, ch, "the data watch after it fired")

	// The writer may be on another member: without a sync, w's member
	// may serve v1 still (reads are sequentially consistent, not
	// linearizable).
	mustOK(t, w.Sync(ctxT(t), p), "sync")
	data, _, ch, err := w.GetW(ctxT(t), p)
	mustOK(t, err, "getW again")
	if string(data) != "v2" {
		t.Fatalf("read %q after the event and a later set, want v2", data)
	}
	if uint64(st2.Mzxid) > w.LastZxid() {
		t.Errorf("read v2 but LastZxid %d is below its mzxid %d", w.LastZxid(), st2.Mzxid)
	}
	st3, err := writer.Set(ctxT(t), p, []byte("v3"), -1)
	mustOK(t, err, "set v3")
	wantEvent(t, ch, client.EventNodeDataChanged, p, st3.Mzxid)
	wantClosed(t, ch, "the second data watch after it fired")

	// A child's create does not fire a data watch; the parent's deletion
	// does.
	_, _, ch, err = w.GetW(ctxT(t), p)
	mustOK(t, err, "getW")
	mustCreate(t, writer, p+"/kid", nil)
	mustOK(t, writer.Delete(ctxT(t), p+"/kid", -1), "delete kid")
	wantNoPending(t, ch, "a data watch after child changes")
	mustOK(t, writer.Delete(ctxT(t), p, -1), "delete")
	wantEvent(t, ch, client.EventNodeDeleted, p, 0)
	wantClosed(t, ch, "the data watch after NodeDeleted")

	// A failed read sets no watch.
	_, _, ch, err = w.GetW(ctxT(t), p)
	wantErr(t, err, client.ErrNoNode, "getW of a deleted node")
	if ch != nil {
		mustCreate(t, writer, p, nil)
		select {
		case ev, ok := <-ch:
			if ok {
				t.Errorf("getW that failed with NoNode set a watch: %+v", ev)
			}
		default:
		}
	}
}

// TestSemanticsWatchExists checks exists watches: on a missing node it
// fires NodeCreated with the czxid; on an existing one, NodeDataChanged or
// NodeDeleted; once each.
func TestSemanticsWatchExists(t *testing.T) {
	w := connect(t, nil)
	root := testRoot(t, w)
	writer := connect(t, nil)
	p := root + "/n"

	_, ch, err := w.ExistsW(ctxT(t), p)
	wantErr(t, err, client.ErrNoNode, "existsW of a missing node")
	if ch == nil {
		t.Fatal("existsW of a missing node returned no channel")
	}
	mustCreate(t, writer, p, []byte("v0"))
	created := mustStat(t, writer, p)
	wantEvent(t, ch, client.EventNodeCreated, p, created.Czxid)
	wantClosed(t, ch, "the exists watch after NodeCreated")

	_, ch, err = w.ExistsW(ctxT(t), p)
	mustOK(t, err, "existsW of an existing node")
	st, err := writer.Set(ctxT(t), p, []byte("v1"), -1)
	mustOK(t, err, "set")
	wantEvent(t, ch, client.EventNodeDataChanged, p, st.Mzxid)
	wantClosed(t, ch, "the exists watch after NodeDataChanged")

	_, ch, err = w.ExistsW(ctxT(t), p)
	mustOK(t, err, "existsW")
	mustOK(t, writer.Delete(ctxT(t), p, -1), "delete")
	ev := wantEvent(t, ch, client.EventNodeDeleted, p, 0)
	if rst := mustStat(t, writer, root); ev.Zxid != uint64(rst.Pzxid) {
		t.Errorf("NodeDeleted zxid %d, want the delete's zxid (the parent's pzxid) %d", ev.Zxid, rst.Pzxid)
	}
	wantClosed(t, ch, "the exists watch after NodeDeleted")
}

// TestSemanticsWatchChildren checks a child watch: it fires
// NodeChildrenChanged on the parent (zxid = the parent's pzxid) once, not
// for a child's data change, and NodeDeleted for the node's deletion.
func TestSemanticsWatchChildren(t *testing.T) {
	w := connect(t, nil)
	root := testRoot(t, w)
	writer := connect(t, nil)
	p := mustCreate(t, w, root+"/p", nil)
	kid := mustCreate(t, w, p+"/kid", nil)

	_, _, ch, err := w.ChildrenW(ctxT(t), p)
	mustOK(t, err, "childrenW")
	_, err = writer.Set(ctxT(t), kid, []byte("x"), -1)
	mustOK(t, err, "set a child's data")
	_, err = writer.Set(ctxT(t), p, []byte("x"), -1)
	mustOK(t, err, "set the parent's data")
	mustCreate(t, writer, p+"/a", nil)
	pst := mustStat(t, writer, p)
	wantEvent(t, ch, client.EventNodeChildrenChanged, p, pst.Pzxid)
	wantClosed(t, ch, "the child watch after it fired")

	children, _, ch, err := w.ChildrenW(ctxT(t), p)
	mustOK(t, err, "childrenW")
	if fmt.Sprint(children) != "[a kid]" {
		t.Fatalf("children %v, want [a kid]", children)
	}
	mustOK(t, writer.Delete(ctxT(t), kid, -1), "delete a child")
	pst = mustStat(t, writer, p)
	wantEvent(t, ch, client.EventNodeChildrenChanged, p, pst.Pzxid)

	_, _, ch, err = w.ChildrenW(ctxT(t), p)
	mustOK(t, err, "childrenW")
	mustOK(t, writer.Delete(ctxT(t), p+"/a", -1), "delete a")
	wantEvent(t, ch, client.EventNodeChildrenChanged, p, 0)
	_, _, ch, err = w.ChildrenW(ctxT(t), p)
	mustOK(t, err, "childrenW")
	mustOK(t, writer.Delete(ctxT(t), p, -1), "delete the parent")
	wantEvent(t, ch, client.EventNodeDeleted, p, 0)
	wantClosed(t, ch, "the child watch after NodeDeleted")
}

// TestSemanticsWatchPersistent checks a persistent watch on one node: every
// event of the node, in order, with the changes' zxids, across its deletion
// and re-creation, and none for changes below its children.
func TestSemanticsWatchPersistent(t *testing.T) {
	w := connect(t, nil)
	root := testRoot(t, w)
	writer := connect(t, nil)
	p := root + "/n"

	watcher, err := w.AddWatch(ctxT(t), p, false)
	mustOK(t, err, "addWatch on a missing node")
	ev := watcher.Events()

	mustCreate(t, writer, p, nil)
	wantEvent(t, ev, client.EventNodeCreated, p, mustStat(t, writer, p).Czxid)
	for i := range 3 {
		st, err := writer.Set(ctxT(t), p, []byte(fmt.Sprint(i)), -1)
		mustOK(t, err, "set")
		wantEvent(t, ev, client.EventNodeDataChanged, p, st.Mzxid)
	}
	mustCreate(t, writer, p+"/kid", nil)
	wantEvent(t, ev, client.EventNodeChildrenChanged, p, mustStat(t, writer, p).Pzxid)
	_, err = writer.Set(ctxT(t), p+"/kid", []byte("x"), -1) // no event: not the node
	mustOK(t, err, "set kid")
	mustCreate(t, writer, p+"/kid/grandkid", nil) // no event: below a child
	mustOK(t, writer.Delete(ctxT(t), p+"/kid/grandkid", -1), "delete grandkid")
	mustOK(t, writer.Delete(ctxT(t), p+"/kid", -1), "delete kid")
	wantEvent(t, ev, client.EventNodeChildrenChanged, p, mustStat(t, writer, p).Pzxid)
	mustOK(t, writer.Delete(ctxT(t), p, -1), "delete")
	wantEvent(t, ev, client.EventNodeDeleted, p, 0)
	mustCreate(t, writer, p, nil)
	wantEvent(t, ev, client.EventNodeCreated, p, mustStat(t, writer, p).Czxid)

	mustOK(t, watcher.Close(ctxT(t)), "close the watcher")
	wantClosed(t, ev, "a closed watcher")
	if !errors.Is(watcher.Err(), client.ErrClosed) {
		t.Errorf("closed watcher's Err: %v, want ErrClosed", watcher.Err())
	}
}

// TestSemanticsWatchPersistentRecursive checks a recursive watch: created,
// deleted and data changed for the node and everything below, in zxid
// order, never NodeChildrenChanged, nothing from outside the subtree.
func TestSemanticsWatchPersistentRecursive(t *testing.T) {
	w := connect(t, nil)
	root := testRoot(t, w)
	writer := connect(t, nil)
	sub := root + "/sub"

	watcher, err := w.AddWatch(ctxT(t), sub, true)
	mustOK(t, err, "addWatch recursive")
	ev := watcher.Events()

	type change struct {
		typ  client.EventType
		path string
		zxid int64
	}
	var want []change
	create := func(p string) {
		mustCreate(t, writer, p, nil)
		want = append(want, change{client.EventNodeCreated, p, mustStat(t, writer, p).Czxid})
	}
	set := func(p string) {
		st, err := writer.Set(ctxT(t), p, []byte("x"), -1)
		mustOK(t, err, "set "+p)
		want = append(want, change{client.EventNodeDataChanged, p, st.Mzxid})
	}
	del := func(p string) {
		mustOK(t, writer.Delete(ctxT(t), p, -1), "delete "+p)
		want = append(want, change{client.EventNodeDeleted, p, 0})
	}
	create(sub)
	create(sub + "/a")
	mustCreate(t, writer, root+"/subway", nil) // a sibling that shares the prefix: no event
	mustCreate(t, writer, root+"/other", nil)  // outside: no event
	create(sub + "/a/b")
	set(sub + "/a/b")
	set(sub)
	create(sub + "/c")
	del(sub + "/a/b")
	del(sub + "/a")
	del(sub + "/c")
	del(sub)
	create(sub) // the marker: the last event

	var last uint64
	for _, c := range want {
		got := wantEvent(t, ev, c.typ, c.path, c.zxid)
		if got.Zxid <= last {
			t.Errorf("event %v %s zxid %d not above the previous %d", got.Type, got.Path, got.Zxid, last)
		}
		last = got.Zxid
	}

	// Closing one of two watchers on the same path leaves the other.
	second, err := w.AddWatch(ctxT(t), sub, true)
	mustOK(t, err, "second addWatch")
	mustOK(t, watcher.Close(ctxT(t)), "close the first watcher")
	wantClosed(t, ev, "the closed watcher")
	st, err := writer.Set(ctxT(t), sub, []byte("y"), -1)
	mustOK(t, err, "set")
	wantEvent(t, second.Events(), client.EventNodeDataChanged, sub, st.Mzxid)
}

// TestSemanticsWatchRemove checks removeWatches: it removes the kinds
// asked for (the channel closes without an event) and leaves the others;
// asking again is NoWatcher.
func TestSemanticsWatchRemove(t *testing.T) {
	w := connect(t, nil)
	root := testRoot(t, w)
	writer := connect(t, nil)
	p := mustCreate(t, w, root+"/n", nil)

	_, _, dch, err := w.GetW(ctxT(t), p)
	mustOK(t, err, "getW")
	_, _, cch, err := w.ChildrenW(ctxT(t), p)
	mustOK(t, err, "childrenW")
	mustOK(t, w.RemoveWatches(ctxT(t), p, client.WatchData), "removeWatches data")
	wantClosed(t, dch, "a removed data watch")
	wantErr(t, w.RemoveWatches(ctxT(t), p, client.WatchData), client.ErrNoWatcher, "removing the data watch again")

	_, err = writer.Set(ctxT(t), p, []byte("x"), -1)
	mustOK(t, err, "set")
	mustCreate(t, writer, p+"/kid", nil)
	wantEvent(t, cch, client.EventNodeChildrenChanged, p, mustStat(t, writer, p).Pzxid)

	// Removing every kind, with a missing node's exists watch among them.
	_, _, dch, err = w.GetW(ctxT(t), p)
	mustOK(t, err, "getW")
	_, _, cch, err = w.ChildrenW(ctxT(t), p)
	mustOK(t, err, "childrenW")
	_, ech, err := w.ExistsW(ctxT(t), root+"/missing")
	wantErr(t, err, client.ErrNoNode, "existsW of a missing node")
	mustOK(t, w.RemoveWatches(ctxT(t), p), "removeWatches of every kind")
	mustOK(t, w.RemoveWatches(ctxT(t), root+"/missing"), "removeWatches of an exists watch")
	wantClosed(t, dch, "a removed data watch")
	wantClosed(t, cch, "a removed child watch")
	wantClosed(t, ech, "a removed exists watch")
	wantErr(t, w.RemoveWatches(ctxT(t), p), client.ErrNoWatcher, "removing again")

	// The member forgot them too: a watch set now fires for the next
	// change, not for one in between.
	_, _, dch, err = w.GetW(ctxT(t), p)
	mustOK(t, err, "getW")
	st, err := writer.Set(ctxT(t), p, []byte("y"), -1)
	mustOK(t, err, "set")
	wantEvent(t, dch, client.EventNodeDataChanged, p, st.Mzxid)
}

// TestSemanticsWatchEventBeforeData checks PROTOCOL.md's "watch events
// before data": once a watching client reads the new data, the event for
// the change is already in its channel. The watcher and the writer are on
// different members.
func TestSemanticsWatchEventBeforeData(t *testing.T) {
	addrs := servers(t)
	w := connect(t, addrs[:1])
	writer := connect(t, []string{otherMember(t, addrs[0])})
	root := testRoot(t, w)
	p := mustCreate(t, w, root+"/x", []byte("0"))
	mustOK(t, writer.Sync(ctxT(t), p), "sync")

	persistent, err := w.AddWatch(ctxT(t), p, false)
	mustOK(t, err, "addWatch")
	for i := 1; i <= 20; i++ {
		_, _, ch, err := w.GetW(ctxT(t), p)
		mustOK(t, err, "getW")
		want := []byte(fmt.Sprint(i))
		st, err := writer.Set(ctxT(t), p, want, -1)
		mustOK(t, err, "set")
		eventually(t, "the watcher to read the new data", func() bool {
			data, _, err := w.Get(ctxT(t), p)
			mustOK(t, err, "get")
			return bytes.Equal(data, want)
		})
		select {
		case ev, ok := <-ch:
			if !ok || ev.Type != client.EventNodeDataChanged || ev.Zxid != uint64(st.Mzxid) {
				t.Fatalf("round %d: event %+v (open %v), want NodeDataChanged at %d", i, ev, ok, st.Mzxid)
			}
		default:
			t.Fatalf("round %d: the watcher read the new data before its one-shot watch's event arrived", i)
		}
		select {
		case ev := <-persistent.Events():
			if ev.Type != client.EventNodeDataChanged || ev.Zxid != uint64(st.Mzxid) {
				t.Fatalf("round %d: persistent event %+v, want NodeDataChanged at %d", i, ev, st.Mzxid)
			}
		default:
			t.Fatalf("round %d: the watcher read the new data before its persistent watch's event arrived", i)
		}
	}
}
