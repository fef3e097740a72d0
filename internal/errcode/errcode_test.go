package errcode

import (
	"errors"
	"fmt"
	"testing"
)

func TestNumbersMatchZooKeeper(t *testing.T) {
	// The numbers are a compatibility promise; a change here breaks clients.
	want := map[Code]int32{
		Ok: 0, SystemError: -1, RuntimeInconsistency: -2, ConnectionLoss: -4,
		OperationTimeout: -7, BadArguments: -8, NoNode: -101, NoAuth: -102,
		BadVersion: -103, NoChildrenForEphemerals: -108, NodeExists: -110,
		NotEmpty: -111, SessionExpired: -112, InvalidACL: -114, AuthFailed: -115,
		NoWatcher: -121,
	}
	for c, n := range want {
		if int32(c) != n {
			t.Errorf("%s = %d, want %d", c.Name(), int32(c), n)
		}
	}
}

func TestWrapAndMatch(t *testing.T) {
	err := fmt.Errorf("create /a/b: %w", NoNode)
	if !errors.Is(err, NoNode) {
		t.Fatalf("errors.Is(%v, NoNode) = false", err)
	}
	if errors.Is(err, NodeExists) {
		t.Fatalf("errors.Is(%v, NodeExists) = true", err)
	}
	var c Code
	if !errors.As(err, &c) || c != NoNode {
		t.Fatalf("errors.As gave %v", c)
	}
}

func TestNames(t *testing.T) {
	if NoNode.Name() != "NoNode" || NoNode.Error() != "node does not exist" {
		t.Fatalf("NoNode: %q %q", NoNode.Name(), NoNode.Error())
	}
	if Code(-999).Known() || Code(-999).Name() != "Code(-999)" {
		t.Fatalf("unknown code: %q", Code(-999).Name())
	}
	all := All()
	if all[0] != Ok || len(all) != len(names) {
		t.Fatalf("All() = %v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i] >= all[i-1] {
			t.Fatalf("All() not descending at %d: %v", i, all)
		}
	}
}
