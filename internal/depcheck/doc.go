// Package depcheck holds no code: its tests enforce the house rules that the
// compiler cannot.
//
//   - The import graph follows DESIGN.md ("Layout and dependency direction"):
//     tree, session and watch know nothing of Raft, sockets or each other;
//     only server/raftnode, server/raftlog and server/transport import
//     go.etcd.io/raft; client reaches only internal/wire, internal/zpath and
//     internal/errcode; recipes reach only client; nothing outside server and
//     cmd imports server; nothing outside cmd imports cmd.
//   - The pure packages (tree, session, watch, internal/zpath,
//     internal/errcode) read no clock, draw no random numbers, open no sockets
//     and start no goroutines in their non-test code (STYLE.md, habit 1).
//
// The rules are tables at the top of depcheck_test.go, so allowing a new edge
// is one line there. A new edge is a design question: raise it in the issue
// note before adding it. Rules about packages that do not exist yet match
// nothing and cost nothing.
//
// Run it alone with
//
//	go test ./internal/depcheck
package depcheck
