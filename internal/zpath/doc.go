// Package zpath is the znode path grammar, shared by the client (to reject a
// bad path before sending it) and the server (which never trusts the client).
//
// The rules are ZooKeeper's: a path is absolute ("/" is the root), has no
// trailing slash, no empty, "." or ".." segment, no NUL, and none of the
// characters ZooKeeper refuses (C0 and C1 controls, U+D800–U+F8FF, U+FFF0–U+FFFF
// and, because Java sees them as surrogate pairs, everything beyond U+FFFF).
// arbor adds a length limit and the reserved system subtree /arbor.
package zpath
