// Package freeport picks loopback ports for tests that start servers as
// processes and restart them on the same address.
//
// The usual trick, listening on port 0 and closing the listener, hands out
// a port from the kernel's ephemeral range, which every outgoing
// connection on the machine also draws its local port from: while a test
// has a member down, another connection (of any test running beside it)
// may take the port, and the member's restart then fails with "address
// already in use". A Picker chooses ports below the ephemeral range, which
// the kernel never hands out by itself, checks that each is free, and
// never hands out the same port twice.
package freeport
