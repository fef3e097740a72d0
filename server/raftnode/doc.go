// Package raftnode is the only owner of arbor's raft.RawNode: it runs the
// Ready loop on one goroutine, ticks raft's clock, and offers the server
// Propose, ReadIndex, Status, ProposeChange, Membership and
// TransferLeadership, and the transport Step, ReportUnreachable,
// ReportSnapshot, OpenSnapshot and ReceiveSnapshot (a *Node is a
// transport.Raft).
//
// # The Ready loop
//
// Start launches one goroutine. It waits for a tick, a proposal, a peer
// message, a read or a transport's report; then takes in, without
// waiting, everything else that is queued (so every proposal that arrived
// during the last fsync goes into the next Ready: many proposals per
// Ready, one fsync per Ready; and the proposals taken in go to raft as one
// MsgProp, so a follower forwards them in one message and the leader
// broadcasts them once);
// then puts all pending reads behind one raft ReadIndex; then, while raft
// has a Ready, handles it in the order raft's contract requires:
//
//  1. persist the Snapshot, Entries and HardState with one raftlog sync
//     (a Ready that changes only the commit index is written without an
//     fsync, raftlog.SaveCommit);
//  2. send the Messages through the Transport (a leader sends them
//     before step 1 instead, so its followers' fsyncs overlap its own, as
//     the Raft thesis §10.2.1 allows: nothing a leader sends depends on
//     what this Ready persists, and it applies the entries only in a later
//     Ready);
//  3. take the ReadStates that answer the in-flight ReadIndex;
//  4. install the Snapshot, if any: Applier.Restore from its received
//     state (see Snapshots);
//  5. apply the CommittedEntries: conf changes to raft (ApplyConfChange)
//     and to the Log (SetConfState) first, then every entry, in order,
//     through the Applier;
//  6. every Config.SnapshotEntries applied entries (or SnapshotBytes of
//     their data), create a snapshot and compact the log (see Snapshots);
//  7. Advance, and release the reads whose index is now applied.
//
// Between two Readys it takes in the queues again, so under load each
// Ready carries new entries and the commits of the previous ones.
//
// # Snapshots
//
// A raft snapshot here is metadata (raftlog); the state stays in the
// Applier. Every SnapshotEntries applied entries (or SnapshotBytes of
// entry data, if that comes first) the Node takes an
// Applier.Checkpoint (a consistent view at the applied index), records a
// snapshot at that index in the Log and compacts the log to
// CatchUpEntries behind it. It holds the checkpoint until the next
// snapshot replaces it (or a restart: the first snapshot after a restart
// comes with the first applied Ready). When raft sends a MsgSnap, the
// transport streams the held checkpoint (OpenSnapshot) to the receiver's
// ReceiveSnapshot, which writes it to a file in Config.SnapshotDir, syncs
// it, and only then steps the message. When raft installs the snapshot,
// the Ready loop persists its metadata, then Restores the Applier from
// that file and deletes it. A member stopped between the two (the Log
// compacted past Config.Applied) finishes the Restore in Start; if the
// file is gone, Start fails: the member cannot recover by itself.
//
// A conf change makes a snapshot due at once, so the snapshot a leader
// sends always names every current member (raft refuses to restore a
// snapshot whose ConfState does not hold the receiver).
//
// A member whose store was wiped cannot rejoin under its old id: raft
// panics when the leader's heartbeat commits past the member's empty log
// (and a forgotten vote could elect two leaders). Give it a new id.
//
// # The caller's contract
//
//  1. One Node per Log; the Node is the Log's only writer while it runs.
//     Stop it before closing the database.
//  2. Proposals can be lost silently (leader change, a lost forward,
//     dropped by raft). Tag every proposal with your own request id, wait
//     for that id among applied entries with a deadline, and retry
//     idempotently: the same request may be committed twice. A nil error
//     from Propose means only that raft took the proposal.
//  3. The Applier gets every committed entry exactly once per run of a
//     Node, in order, from Config.Applied+1 on: persist the index of the
//     last applied entry with the state it produced, and pass it as
//     Config.Applied on the next Start. The state need not be synced: the
//     Node compacts the log only behind state the Applier's Flush has
//     made durable, so a restart applies again whatever was lost. The
//     commit index is written unsynced, so a durable applied index may
//     exceed the durable commit index; Start raises the commit index to
//     it (and refuses an applied index past the log's last entry). The
//     Node has already applied conf
//     changes to raft and recorded their ConfState when the Applier sees
//     them (Entry.Changes, Entry.Membership). Apply runs on the Ready loop: keep it short; nothing else
//     moves in raft meanwhile.
//  4. After ReadIndex returns i, the Applier has applied at least i;
//     state read from it then is linearizable. ReadIndex waits for a
//     leader, retrying, until its ctx ends: always pass a deadline.
//  5. The Transport's Send must not block, and messages received from
//     peers go to Step. The transport reports a lost message with
//     ReportUnreachable, and the end of every snapshot it was given to
//     send with ReportSnapshot; neither blocks (reports wait for the loop,
//     merged per peer). A Node with a nil Transport must be its group's
//     only member.
//  6. When Done is closed, the Node has stopped; Err says why (nil after
//     Stop). An error from the Log or the Applier stops it: the member must
//     stop and restart from what is durable.
//  7. Close the Transport after Stop and before the database: Stop cuts
//     the snapshot streams it serves, and closing the Transport ends
//     those being received. Config.SnapshotDir is part of the member's
//     durable state, like the database.
//
// # Membership
//
// A cluster starts with the voters in Config.Peers, recorded in every
// founder's empty Log as the initial ConfState, with their contexts
// (Config.PeerContexts, the server's peer addresses). Each member's
// context follows the membership (Membership.Contexts): set by the
// Change that adds it, dropped when it is removed, recorded with the
// ConfState in the Log (raftlog.SetMembership) and carried in the Data of
// every raft snapshot, so a member caught up by a snapshot, which never
// sees the conf-change entries it stands for, knows every member's
// context too. Config.OnMembershipChange hears of each change. To add a
// member:
//
//  1. start it on an empty Log with Config.Join and the same Peers (the
//     initial voters: raft replays the log from index 1, conf changes
//     included, on top of them; once the leader's log is compacted, a
//     snapshot brings the membership instead); it waits, not campaigning;
//  2. on the leader, ProposeChange(AddLearner) with the member's peer
//     address as the Change's Context; every member's Applier gets the
//     conf-change Entry with its Changes and the Membership after it, and
//     the server updates its transport from them;
//  3. once the leader's Status.Progress shows the learner near Commit,
//     ProposeChange(AddVoter) promotes it.
//
// RemoveMember removes a learner or a voter, the leader included (it
// steps down once the change is applied). More than one change at once
// go through a joint configuration that raft leaves by itself. Raft takes
// one change at a time: ProposeChange reports a change that raft refused
// or lost (ErrChangeInProgress, ErrChangeDropped) instead of waiting for
// it, and refuses changes that make no sense (ErrBadChange) before
// proposing; a change that still cannot be applied when committed (the
// membership moved since) is skipped on every member alike rather than
// crashing raft. On a restart the Log's stored ConfState wins over
// Config.Peers. TransferLeadership hands leadership to another voter
// before a graceful shutdown.
//
// Every method of Node is safe for concurrent use and honours its ctx.
package raftnode
