// Command cmptable turns the JSON lines of a side-by-side run
// (bench/compare.sh) into markdown: one table of throughput and latency per
// workload and cluster size, with arbor's ratio to ZooKeeper and to etcd,
// and a second table of each system's footprint when the run measured it.
//
// It reads the files named on the command line, or standard input, one JSON
// object per line:
//
//   - a load result, as printed by `arbor --output json bench` and by
//     `cmpbench -json`, with a "members" field that compare.sh adds (1 if
//     absent);
//   - {"kind":"machine", ...}: the machine and the versions measured;
//   - {"kind":"footprint", ...}: one system's memory, disk and restart time
//     after it was filled with nodes.
//
// Blank lines are skipped; any other line that is not such an object is an
// error naming the file and line. When a system has several results for
// the same row (repeated runs), the table shows the one with the median
// throughput.
//
// Usage:
//
//	cmptable [FILE ...]
package main
