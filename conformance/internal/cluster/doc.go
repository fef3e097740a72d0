// Package cluster runs a cluster of real `arbor server` processes on
// loopback for the conformance suite, and makes its faults.
//
// Every member runs behind two TCP proxies (package proxy): one in front
// of its client listener, which clients dial, and one in front of its peer
// listener, which its peers dial (the member binds another address with
// --listen-peer, and its address in --cluster is the proxy's). The peer
// proxy tells which member dialled a stream from the stream's handshake,
// so a link between two members can be cut in one direction or both:
// partitions, an isolated leader, a bridge, slow links. Processes are
// killed with SIGKILL, paused with SIGSTOP and SIGCONT, stopped with
// SIGTERM and started again on their data directories.
//
// A Cluster is safe for concurrent use. It signals only the processes it
// started, by their PIDs.
package cluster
