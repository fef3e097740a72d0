// Package recipes builds the classic coordination recipes on the arbor
// client: the things most people run a coordination service for.
//
//   - Mutex, RWMutex and Semaphore: fair locks on ephemeral sequential
//     nodes, each waiter watching only the node it waits for.
//   - Election: campaign, resign, observe the leader, and learn at once when
//     leadership is lost.
//   - Barrier and DoubleBarrier: hold a group until a condition or a count.
//   - Queue and PriorityQueue: a distributed FIFO queue, and one by priority.
//   - Counter: an atomic counter by compare-and-set.
//   - Config: a typed configuration value, watched.
//   - Group and TreeCache: the live members of a group, and a local mirror of
//     a subtree.
//   - Coordinator and Participant: two-phase commit, voting through nodes.
//
// Service discovery with client-side load balancing lives in
// recipes/discovery, and the consistent hash ring in recipes/ring.
//
// # Sessions
//
// A recipe works on one *client.Client, whose session is its liveness: what
// a recipe holds for a process (a lock, a candidacy, a group membership, a
// barrier participant) is an ephemeral node that vanishes when the session
// ends. When the client's session ends (Done), whatever the recipe held is
// lost, and the recipe says so (Mutex.Lost, Election.Lost, Membership.Lost).
// Use a new Client, and new recipe values, to go on. What a recipe keeps for
// everyone (a Barrier, queue items, a Counter, a Config value, a two-phase
// commit transaction) is persistent and outlives the session that wrote it.
//
// # Contexts and cleanup
//
// Every call that can wait takes a context. When it ends mid-way, the call
// returns the context's error and undoes what it had started (a lock node
// it created, for instance) on a fresh context bounded by the client's
// session timeout, so that an abandoned attempt never blocks others.
//
// # Node names
//
// The nodes a contender creates are named with a prefix unique to the
// recipe value ("_c_" and 32 hex digits, as Apache Curator's protected mode
// does), then the recipe's own tag and the sequence suffix. A create whose
// outcome is unknown (its context ended while it was in flight) is found
// again by that prefix and either adopted or deleted, never left behind.
//
// docs/RECIPES.md says when to use each recipe, what it guarantees and how
// it behaves under failures.
package recipes
