package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// admin sends an admin API request to m and returns the status and body.
func admin(t *testing.T, m *servertest.Member, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+m.Addr()+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// adminOK sends a membership change to the leader, retrying while
// leadership moves or another change is under way, and fails the test on
// any other answer.
func adminOK(t *testing.T, c *servertest.Cluster, method, path, body string) {
	t.Helper()
	for range 50 {
		code, b := admin(t, c.WaitLeader(), method, path, body)
		switch code {
		case http.StatusOK:
			return
		case http.StatusMisdirectedRequest, http.StatusServiceUnavailable:
			t.Logf("%s %s: %d %s; retrying", method, path, code, b)
			time.Sleep(50 * time.Millisecond)
		default:
			t.Fatalf("%s %s: %d %s", method, path, code, b)
		}
	}
	t.Fatalf("%s %s never went through", method, path)
}

func listMembers(t *testing.T, m *servertest.Member) []server.MemberInfo {
	t.Helper()
	code, b := admin(t, m, "GET", server.MembersPath, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", server.MembersPath, code, b)
	}
	var out []server.MemberInfo
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET %s: %v in %s", server.MembersPath, err, b)
	}
	return out
}

// waitRoles waits until m lists exactly the members in roles (id → role).
func waitRoles(t *testing.T, m *servertest.Member, roles map[uint64]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := make(map[uint64]string)
		for _, info := range listMembers(t, m) {
			got[info.ID] = info.Role
		}
		if fmt.Sprint(got) == fmt.Sprint(roles) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %d lists %v, want %v", m.ID(), got, roles)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMembershipChanges: a member added as a learner through the admin
// API catches up and serves reads without voting; promoted, it votes;
// a removed follower and a removed leader leave, and the cluster goes on.
func TestMembershipChanges(t *testing.T) {
	c := servertest.StartCluster(t, 3, clusterConfig())
	ctx := ctxFor(t, 90*time.Second)
	writer := connect(t, c.WaitLeader())
	must(writer.Create(ctx, "/before", []byte("b")))(t)

	m4 := c.AddMember(t, clusterConfig4())
	adminOK(t, c, "POST", server.MembersPath, fmt.Sprintf(`{"id": 4, "peer_addr": %q}`, c.PeerAddr(4)))
	waitRoles(t, c.WaitLeader(), map[uint64]string{1: "voter", 2: "voter", 3: "voter", 4: "learner"})
	// The learner serves reads of what was written before and after it
	// joined.
	reader := connect(t, m4)
	if err := reader.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if data, _, err := reader.Get(ctx, "/before"); err != nil || string(data) != "b" {
		t.Fatalf("learner reads /before: %q %v", data, err)
	}
	must(writer.Create(ctx, "/after", []byte("a")))(t)
	if err := reader.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if data, _, err := reader.Get(ctx, "/after"); err != nil || string(data) != "a" {
		t.Fatalf("learner reads /after: %q %v", data, err)
	}
	// It knows every peer, and does not vote: it is never leader.
	list := listMembers(t, m4)
	for _, info := range list {
		if want := c.PeerAddr(info.ID); info.PeerAddr != want {
			t.Fatalf("the learner lists %+v, want peer address %s", info, want)
		}
	}
	if st := m4.Server().Stats(); st.Role == "leader" {
		t.Fatalf("the learner leads: %+v", st)
	}
	converged(t, c)

	adminOK(t, c, "POST", server.MembersPath+"/4/promote", "")
	waitRoles(t, m4, map[uint64]string{1: "voter", 2: "voter", 3: "voter", 4: "voter"})

	// Remove a follower other than 4.
	lead := c.WaitLeader()
	var gone *servertest.Member
	for _, m := range c.Members()[:3] {
		if m != lead {
			gone = m
			break
		}
	}
	adminOK(t, c, "DELETE", fmt.Sprintf("%s/%d", server.MembersPath, gone.ID()), "")
	gone.Stop()
	remaining := map[uint64]string{1: "voter", 2: "voter", 3: "voter", 4: "voter"}
	delete(remaining, gone.ID())
	waitRoles(t, c.WaitLeader(), remaining)
	retried(ctx, t, "write after removing a follower", func() error {
		_, err := writer.Create(ctx, "/follower-gone", nil)
		return err
	})

	// Remove the leader: it steps down and shuts itself down; the others
	// elect a new one and writes go on.
	lead = c.WaitLeader()
	done, runErr := lead.Exited()
	adminOK(t, c, "DELETE", fmt.Sprintf("%s/%d", server.MembersPath, lead.ID()), "")
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the removed leader did not shut down")
	}
	if err := runErr(); !errors.Is(err, server.ErrRemoved) {
		t.Fatalf("the removed leader's Run returned %v, want ErrRemoved", err)
	}
	lead.Stop()
	delete(remaining, lead.ID())
	newLead := c.WaitLeader()
	if newLead == lead {
		t.Fatal("no new leader")
	}
	waitRoles(t, newLead, remaining)
	w2 := connect(t, newLead)
	retried(ctx, t, "write after removing the leader", func() error {
		_, err := w2.Create(ctx, "/leader-gone", nil)
		return err
	})
	converged(t, c)
}

func clusterConfig4() server.Config {
	cfg := clusterConfig()
	cfg.ID = 4
	return cfg
}

// TestMembershipBadInput: every bad admin request gets a 4xx with a
// message and changes nothing; a follower sends changes to the leader.
func TestMembershipBadInput(t *testing.T) {
	c := servertest.StartCluster(t, 3, clusterConfig())
	lead := c.WaitLeader()
	before := listMembers(t, lead)
	var f *servertest.Member
	for _, m := range c.Members() {
		if m != lead {
			f = m
			break
		}
	}
	for _, tc := range []struct {
		m            *servertest.Member
		method, path string
		body         string
		code         int
	}{
		{lead, "POST", server.MembersPath, `not json`, 400},
		{lead, "POST", server.MembersPath, `{"id": 0, "peer_addr": "127.0.0.1:9"}`, 400},
		{lead, "POST", server.MembersPath, `{"id": 9, "peer_addr": "nohostport"}`, 400},
		{lead, "POST", server.MembersPath, `{"id": 9, "peer_addr": ":9"}`, 400},
		{lead, "POST", server.MembersPath, `{"id": 9, "peer_addr": "127.0.0.1:9", "learner": false}`, 400},
		{lead, "POST", server.MembersPath, `{"id": 9, "peer_addr": "127.0.0.1:9", "extra": 1}`, 400},
		{lead, "POST", server.MembersPath, `{"id": 2, "peer_addr": "127.0.0.1:9"}`, 409},
		{lead, "POST", server.MembersPath, fmt.Sprintf(`{"id": 9, "peer_addr": %q}`, c.PeerAddr(2)), 409},
		{lead, "POST", server.MembersPath + "/x/promote", ``, 400},
		{lead, "POST", server.MembersPath + "/9/promote", ``, 404},
		{lead, "POST", server.MembersPath + "/2/promote", ``, 409},
		{lead, "DELETE", server.MembersPath + "/0", ``, 400},
		{lead, "DELETE", server.MembersPath + "/9", ``, 404},
		{lead, "PUT", server.MembersPath, ``, 405},
		{f, "POST", server.MembersPath, `{"id": 9, "peer_addr": "127.0.0.1:9"}`, 421},
		{f, "DELETE", server.MembersPath + "/1", ``, 421},
	} {
		code, b := admin(t, tc.m, tc.method, tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s %s %s on %d: %d %s, want %d", tc.method, tc.path, tc.body, tc.m.ID(), code, b, tc.code)
			continue
		}
		if code == 405 {
			continue
		}
		var e struct {
			Error  string `json:"error"`
			Leader uint64 `json:"leader"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: body %s: want {\"error\": ...}", tc.method, tc.path, b)
		}
		if code == 421 && e.Leader != lead.ID() {
			t.Errorf("%s %s on a follower names leader %d, want %d", tc.method, tc.path, e.Leader, lead.ID())
		}
	}
	if c.WaitLeader() == lead {
		if after := listMembers(t, lead); !slices.EqualFunc(after, before, sameMember) {
			t.Fatalf("the members changed: %+v, were %+v", after, before)
		}
	}
}

func sameMember(a, b server.MemberInfo) bool {
	return a.ID == b.ID && a.PeerAddr == b.PeerAddr && a.Role == b.Role && a.IsLeader == b.IsLeader
}
