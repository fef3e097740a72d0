// Package errcode is arbor's one table of result codes. The names and numbers
// are ZooKeeper's, so that a ZooKeeper user recognises every error and a
// ZooKeeper wire-protocol frontend can pass codes through unchanged.
//
// The table is shared by the state machine (tree), the server, the wire
// protocol, the client and the CLI. A Code is an error value: wrap it with
// fmt.Errorf("...: %w", code) or a richer error type, and match it with
// errors.Is(err, errcode.NoNode).
package errcode
