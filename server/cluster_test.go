package server

import (
	"context"
	"strings"
	"testing"
)

func TestParseCluster(t *testing.T) {
	good := []struct {
		in   string
		want Cluster
	}{
		{"1=127.0.0.1:7281", Cluster{1: "127.0.0.1:7281"}},
		{"1=127.0.0.1:7281,2=127.0.0.1:7282,3=127.0.0.1:7283", Cluster{1: "127.0.0.1:7281", 2: "127.0.0.1:7282", 3: "127.0.0.1:7283"}},
		{" 3=a.example:1 , 10=[::1]:65535", Cluster{3: "a.example:1", 10: "[::1]:65535"}},
	}
	for _, tc := range good {
		got, err := ParseCluster(tc.in)
		if err != nil {
			t.Errorf("ParseCluster(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("ParseCluster(%q) = %v, want %v", tc.in, got, tc.want)
		}
		// String renders the syntax back, ids in order.
		if again, err := ParseCluster(got.String()); err != nil || !again.Equal(got) {
			t.Errorf("ParseCluster(%q).String() = %q does not parse back: %v", tc.in, got.String(), err)
		}
	}
	bad := []struct{ in, want string }{
		{"", "empty"},
		{"1", "want ID=HOST:PORT"},
		{"x=127.0.0.1:1", "positive integer"},
		{"0=127.0.0.1:1", "positive integer"},
		{"-1=127.0.0.1:1", "positive integer"},
		{"1=127.0.0.1:1,1=127.0.0.1:2", "id 1 given twice"},
		{"1=127.0.0.1", "want HOST:PORT"},
		{"1=:7281", "host is missing"},
		{"1=127.0.0.1:0", "port from 1 to 65535"},
		{"1=127.0.0.1:70000", "port from 1 to 65535"},
		{"1=127.0.0.1:1,2=127.0.0.1:1", "same peer address"},
		{"1=127.0.0.1:1,", "want ID=HOST:PORT"},
	}
	for _, tc := range bad {
		if c, err := ParseCluster(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCluster(%q) = %v, %v; want an error saying %q", tc.in, c, err, tc.want)
		}
	}
}

func TestConfigCluster(t *testing.T) {
	three := Cluster{1: "127.0.0.1:7281", 2: "127.0.0.1:7282", 3: "127.0.0.1:7283"}
	if err := (Config{ID: 2, Cluster: three}).Validate(); err != nil {
		t.Errorf("member 2 of three: %v", err)
	}
	// With a peer listen address, the member's cluster address (served
	// by a proxy elsewhere) may equal its client address: only the
	// addresses it binds must differ.
	if err := (Config{ID: 1, Cluster: three, Listen: "127.0.0.1:7281", PeerListen: "127.0.0.1:7291"}).Validate(); err != nil {
		t.Errorf("member 1 of three with a peer listen address: %v", err)
	}
	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{Cluster: three}, "member id: required"},
		{Config{ID: 4, Cluster: three}, "member id 4: not in the cluster"},
		{Config{ID: 1, Cluster: three, Listen: "127.0.0.1:7281"}, "clients and peers need two addresses"},
		{Config{ID: 1, Cluster: Cluster{1: "nohost"}}, "want HOST:PORT"},
		{Config{ID: 1, Cluster: three, PeerListen: "7291"}, `peer listen address "7291": want HOST:PORT`},
		{Config{ID: 1, Cluster: three, Listen: "127.0.0.1:7291", PeerListen: "127.0.0.1:7291"}, "peer listen address 127.0.0.1:7291 is also the client listen address"},
	}
	for _, tc := range bad {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
	if a, b := three.clusterID(), (Cluster{1: "127.0.0.1:7281", 2: "127.0.0.1:7282"}).clusterID(); a == b || a == 0 {
		t.Errorf("cluster ids %#x and %#x: want distinct and non-zero", a, b)
	}
}

// TestMemberRecord: a member keeps its id and cluster from its first start;
// a later start needs neither and refuses ones that disagree, changing
// nothing.
func TestMemberRecord(t *testing.T) {
	dir := t.TempDir()
	one := Cluster{7: "127.0.0.1:7281"}
	start := func(cfg Config) (*Server, error) {
		cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
		return New(cfg)
	}
	stop := func(s *Server) {
		t.Helper()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s, err := start(Config{ID: 7, Cluster: one})
	if err != nil {
		t.Fatal(err)
	}
	if s.replica.id != 7 {
		t.Fatalf("member id %d, want 7", s.replica.id)
	}
	stop(s)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ID: 8}, "this data dir belongs to member 7"},
		{Config{ID: 7, Cluster: Cluster{7: "127.0.0.1:7282"}}, "disagrees with the membership this member was started with (7=127.0.0.1:7281)"},
		{Config{ID: 7, Cluster: Cluster{7: "127.0.0.1:7281", 8: "127.0.0.1:7282"}}, "disagrees"},
	} {
		if s, err := start(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			if err == nil {
				stop(s)
			}
			t.Errorf("restart with %+v: %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
	for _, cfg := range []Config{{}, {ID: 7}, {ID: 7, Cluster: one}} {
		s, err := start(cfg)
		if err != nil {
			t.Fatalf("restart with %+v: %v", cfg, err)
		}
		if s.replica.id != 7 || !s.replica.member.Cluster.Equal(one) {
			t.Errorf("restart with %+v: member %d of %v, want 7 of %v", cfg, s.replica.id, s.replica.member.Cluster, one)
		}
		stop(s)
	}

	// A new member alone, without flags, is member 1 and keeps being.
	alone := t.TempDir()
	s, err = New(Config{DataDir: alone, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	stop(s)
	if s, err = New(Config{DataDir: alone, Listen: "127.0.0.1:0", ID: 2}); err == nil || !strings.Contains(err.Error(), "belongs to member 1") {
		if err == nil {
			stop(s)
		}
		t.Errorf("restart of member 1 as 2: %v, want refused", err)
	}
}
