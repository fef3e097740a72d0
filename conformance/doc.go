// Package conformance is arbor's black-box semantics and fault suite. It
// speaks only the public protocol, through package client, so it can be
// pointed at any arbor cluster; by default it starts its own clusters of
// `arbor server` processes on free loopback ports.
//
// The semantics tests check, each as its own named test, the rules a
// ZooKeeper user relies on: operations and error codes, versions,
// sequential names, ephemerals, containers and TTLs, multi, watches,
// ordering, sessions and ACLs.
//
// The fault tests run concurrent clients recording every operation while a
// nemesis kills, pauses, partitions and slows the members, then check the
// histories: linearizability of a register workload (with porcupine),
// exactly-once sequential creates, ephemerals that do not outlive their
// sessions, watches that deliver every change once and in order, and equal
// state digests on every member once the faults heal.
//
//	go test ./conformance                      # semantics + the short fault profile
//	go test ./conformance -args -long          # the long fault profile (a soak run)
//	go test ./conformance -args -servers=HOST:PORT,...   # the semantics tests against a running cluster
//
// docs/TESTING.md says more, including how to replay a failure from its
// seed and where a failing run saves its histories.
package conformance
