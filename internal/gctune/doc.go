// Package gctune sizes the Go garbage collector's target for a server
// whose live heap is small but which allocates on every request.
//
// Go's collector (GOGC=100) starts a cycle whenever the heap has grown by
// the live heap's size. An arbor member keeps its data in Pebble, so its
// live heap can be a few tens of MiB while its requests allocate hundreds
// of MiB a second: at GOGC=100 it collects several times a second, and the
// collector's assists land on requests, in the tail latency. A fixed,
// larger GOGC would instead let a large live heap (Pebble's block cache,
// when built without cgo) grow several times over.
//
// A Tuner keeps the growth between collections at least a fixed headroom
// in bytes, and at least Go's default of the live heap: it reads the live
// heap after each collection (runtime/metrics) and sets GOGC to match
// (Percent). Memory use is then bounded by the live heap plus the larger
// of the headroom and the live heap, and GOMEMLIMIT, if set, still caps
// it.
package gctune
