package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

func TestMemberUsage(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t) // never contacted
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"member", "list", "x"}, "arbor: member list: takes no arguments"},
		{[]string{"member", "add", "4"}, "arbor: member add: want ID PEER_ADDR"},
		{[]string{"member", "add", "0", "h:1"}, `arbor: member id "0": want a positive integer`},
		{[]string{"member", "add", "4", "nohost"}, "arbor: member add: cluster: member 4: peer address \"nohost\": want HOST:PORT: address nohost: missing port in address"},
		{[]string{"member", "promote"}, "arbor: member promote: want ID"},
		{[]string{"member", "remove", "x1"}, `arbor: member id "x1": want a positive integer`},
	} {
		fails(t, addr, exitUsage, tc.want, tc.args...)
	}
}

// TestMemberCommands: against a cluster, list from any member; changes
// reach the leader whichever member --servers names first.
func TestMemberCommands(t *testing.T) {
	t.Parallel()
	c := servertest.StartCluster(t, 3, server.Config{})
	lead := c.WaitLeader()
	var servers []string
	for _, m := range c.Members() {
		if m != lead {
			servers = append(servers, m.Addr())
		}
	}
	servers = append(servers, lead.Addr())
	all := strings.Join(servers, ",")

	out := ok(t, all, "member", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(out, "127.0.0.1:2") {
		t.Fatalf("member list printed %q", out)
	}
	c.AddMember(t, server.Config{ID: 4})
	out = ok(t, all, "-o", "json", "member", "add", "4", c.PeerAddr(4))
	var members []server.MemberInfo
	if err := json.Unmarshal([]byte(out), &members); err != nil || len(members) != 4 || members[3].Role != "learner" || members[3].PeerAddr != c.PeerAddr(4) {
		t.Fatalf("member add printed %q (%v)", out, err)
	}
	fails(t, all, exitError, "arbor: member add: member 4 is already a member", "member", "add", "4", "127.0.0.1:9")
	fails(t, all, exitError, "arbor: member remove: member 9 is not a member", "member", "remove", "9")
	out = ok(t, all, "member", "remove", "4")
	if strings.Contains(out, "127.0.0.1:4") {
		t.Fatalf("member remove printed %q", out)
	}
	if r := arborAt(t, freeAddr(t), "", "member", "list"); r.code != exitError || !strings.HasPrefix(r.stderr, "arbor: member list: no member of --servers answered: ") {
		t.Fatalf("member list with no member up: %v", r)
	}
}
