package errcode

import (
	"maps"
	"slices"
	"strconv"
)

// Code is a ZooKeeper-compatible result code. Ok (0) means success; every
// other code is an error. Code implements error so it can be returned and
// matched directly.
type Code int32

// The codes, with ZooKeeper's numbers.
const (
	Ok                      Code = 0
	SystemError             Code = -1
	RuntimeInconsistency    Code = -2
	DataInconsistency       Code = -3
	ConnectionLoss          Code = -4
	MarshallingError        Code = -5
	Unimplemented           Code = -6
	OperationTimeout        Code = -7
	BadArguments            Code = -8
	UnknownSession          Code = -12
	NewConfigNoQuorum       Code = -13
	ReconfigInProgress      Code = -14
	APIError                Code = -100
	NoNode                  Code = -101
	NoAuth                  Code = -102
	BadVersion              Code = -103
	NoChildrenForEphemerals Code = -108
	NodeExists              Code = -110
	NotEmpty                Code = -111
	SessionExpired          Code = -112
	InvalidCallback         Code = -113
	InvalidACL              Code = -114
	AuthFailed              Code = -115
	SessionMoved            Code = -118
	NotReadOnly             Code = -119
	EphemeralOnLocalSession Code = -120
	NoWatcher               Code = -121
	RequestTimeout          Code = -122
	ReconfigDisabled        Code = -123
	QuotaExceeded           Code = -125
	Throttled               Code = -127
)

// names holds each code's name (ZooKeeper's Java enum name in CamelCase) and
// a short description for error messages. It is a constant table, never
// written.
var names = map[Code][2]string{
	Ok:                      {"Ok", "ok"},
	SystemError:             {"SystemError", "system error"},
	RuntimeInconsistency:    {"RuntimeInconsistency", "runtime inconsistency (rolled back)"},
	DataInconsistency:       {"DataInconsistency", "data inconsistency"},
	ConnectionLoss:          {"ConnectionLoss", "connection lost"},
	MarshallingError:        {"MarshallingError", "marshalling error"},
	Unimplemented:           {"Unimplemented", "operation not implemented"},
	OperationTimeout:        {"OperationTimeout", "operation timed out"},
	BadArguments:            {"BadArguments", "bad arguments"},
	UnknownSession:          {"UnknownSession", "unknown session"},
	NewConfigNoQuorum:       {"NewConfigNoQuorum", "new configuration has no quorum"},
	ReconfigInProgress:      {"ReconfigInProgress", "reconfiguration in progress"},
	APIError:                {"APIError", "api error"},
	NoNode:                  {"NoNode", "node does not exist"},
	NoAuth:                  {"NoAuth", "not authorized"},
	BadVersion:              {"BadVersion", "version does not match"},
	NoChildrenForEphemerals: {"NoChildrenForEphemerals", "ephemeral nodes may not have children"},
	NodeExists:              {"NodeExists", "node already exists"},
	NotEmpty:                {"NotEmpty", "node has children"},
	SessionExpired:          {"SessionExpired", "session expired"},
	InvalidCallback:         {"InvalidCallback", "invalid callback"},
	InvalidACL:              {"InvalidACL", "invalid ACL"},
	AuthFailed:              {"AuthFailed", "authentication failed"},
	SessionMoved:            {"SessionMoved", "session moved to another server"},
	NotReadOnly:             {"NotReadOnly", "server is read-only"},
	EphemeralOnLocalSession: {"EphemeralOnLocalSession", "ephemeral node on a local session"},
	NoWatcher:               {"NoWatcher", "no such watch"},
	RequestTimeout:          {"RequestTimeout", "request timed out"},
	ReconfigDisabled:        {"ReconfigDisabled", "reconfiguration disabled"},
	QuotaExceeded:           {"QuotaExceeded", "quota exceeded"},
	Throttled:               {"Throttled", "request throttled"},
}

// Name returns the code's ZooKeeper name, e.g. "NoNode", or "Code(-999)" for
// a number outside the table.
func (c Code) Name() string {
	if n, ok := names[c]; ok {
		return n[0]
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}

// Error returns a short human description, e.g. "node does not exist".
func (c Code) Error() string {
	if n, ok := names[c]; ok {
		return n[1]
	}
	return "unknown error code " + strconv.Itoa(int(c))
}

// Known reports whether c is a code in the table.
func (c Code) Known() bool {
	_, ok := names[c]
	return ok
}

// All returns every code in the table, in descending numeric order (Ok first).
func All() []Code {
	out := slices.Collect(maps.Keys(names))
	slices.SortFunc(out, func(a, b Code) int { return int(b) - int(a) })
	return out
}
