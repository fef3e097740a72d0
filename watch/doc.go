// Package watch is one member's watch registry: which watcher (a client
// connection or session, named by the server with a WatcherID) watches
// which path, and, for each event the tree emits, who is told.
//
// The kinds are ZooKeeper's. A Data watch (set by get, or by exists, also on
// a missing node) fires once on NodeCreated, NodeDataChanged or NodeDeleted
// of its path. A Child watch (set by getChildren) fires once on
// NodeChildrenChanged or NodeDeleted of its path. A Persistent watch fires
// on every event of its exact path and stays. A PersistentRecursive watch
// fires on NodeCreated, NodeDataChanged and NodeDeleted of its path and of
// every path below it, never on NodeChildrenChanged, and stays. A one-shot
// watch is removed when it is delivered; setting the same one-shot watch
// twice arms it once, so the watcher gets one event.
//
// # Who serialises access
//
// A Registry is not safe for concurrent use and needs no lock: the server's
// owner goroutine, the one that applies committed entries and releases
// responses, is the only caller. It calls Add after a read's READ check
// succeeds and before releasing the read's response, Fire for each event of
// an applied run in order and before releasing the responses of that run,
// Remove for removeWatches, and RemoveAll when a watcher goes away. The
// package starts no goroutines and reads no clock.
//
// # Fan-out
//
// Fire costs O(w log w + d), where w is the number of watchers with a
// matching watch and d the depth of the event's path: the exact path is one
// map lookup, and recursive watches are found by walking the path's
// ancestors, never by scanning the registry. A watcher with several
// matching watches (say a Data watch on the path and a recursive watch on
// an ancestor) gets one Delivery, whose Kind is the set of kinds that fired,
// as ZooKeeper sends one notification per connection and event.
// Deliveries come sorted by WatcherID, so the same registrations and events
// give the same deliveries on every run.
//
// # Permissions
//
// Events are delivered only to watchers allowed to READ the node; the tree's
// event carries the node's ACL, the server holds each watcher's identities,
// so the server decides, through the allow callback of Fire. A watcher that
// is refused gets no delivery and its one-shot watches on the path stay
// armed: a watch is set only after a READ check, and consuming it without a
// notification (as ZooKeeper does) would leave the client waiting forever
// for an event that can no longer come. The armed watch fires on the next
// event the watcher may see.
//
// # Limits
//
// Config.MaxPerWatcher bounds the registrations of one watcher; Add past it
// returns a *LimitError, which matches errcode.QuotaExceeded.
package watch
