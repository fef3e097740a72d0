// Package discovery is service discovery with client-side load balancing,
// built on the arbor client.
//
// A service's instances register under ROOT/SERVICE, one ephemeral node
// per instance named by its ID and holding its address, metadata and
// weight as JSON:
//
//	/services/payments/pay-1  {"addr":"10.0.0.7:8443","meta":{"zone":"b"},"weight":2}
//
// The node lives as long as the registering client's session, so an
// instance whose process dies or is partitioned away leaves the list by
// itself once its session expires. Register returns a Registration that
// says when it was lost (Lost) and can be updated or withdrawn.
//
// Instances reads the list once; Watch keeps it current with one
// persistent recursive watch on the service's node, so that arrivals,
// departures and data changes are all seen, and reads the list and every
// instance's data at one zxid (one ReadMulti), so that a view never mixes
// two states of the service. Service.Pick chooses an instance with a
// Balancer: round-robin, random, weighted random, nginx's smooth weighted
// round-robin, or least outstanding calls.
//
// # Sessions
//
// A registration is lost when its client's session ends: start a new
// client and register again. An ID is one instance: registering an ID held
// by another live session fails with ErrDuplicate, which is also what a
// restarted process sees until its previous session has expired (at most
// that session's timeout). Registering an ID again on the same session
// adopts the node and updates its data.
//
// A Service ends when its client's session ends (Err says so): its last
// view may be stale from then on, and Pick refuses to use it.
//
// # Node data
//
// Entries that cannot be decoded (written by another tool, or by a newer
// version) are skipped and reported, never dropped silently: Instances
// returns them in an error matching ErrUndecodable beside the good ones,
// and Service.Skipped lists them.
package discovery
