package server

import (
	"encoding/json"
	"net/http"
	"time"
)

// StatusPath answers GET with the member's Status as JSON (arbor status).
// ?digest=false leaves out the state digest, which reads the whole state.
const StatusPath = "/v1/status"

// Status is what a member reports of itself: its part in the cluster, how
// far it has got, its load, and the digest of its state at its applied
// index, which is equal on members that applied the same log.
type Status struct {
	ID          uint64   `json:"id"`
	Role        string   `json:"role"`
	Term        uint64   `json:"term"`
	Leader      uint64   `json:"leader"`
	Commit      uint64   `json:"commit"`
	Applied     uint64   `json:"applied"`
	Voters      []uint64 `json:"voters"`
	Learners    []uint64 `json:"learners,omitempty"`
	Sessions    int      `json:"sessions"`
	Watches     int      `json:"watches"`
	Connections int64    `json:"connections"`
	// Digest is "sha256-prefix@index", empty if not asked for.
	Digest  string `json:"digest,omitempty"`
	Version string `json:"version"`
	UptimeS int64  `json:"uptime_s"`
}

// Status returns the member's status; withDigest adds the state digest,
// which costs a read of the whole state.
func (s *Server) Status(withDigest bool) (Status, error) {
	st := s.Stats()
	rs := s.replica.node.Status()
	out := Status{
		ID: st.ID, Role: st.Role, Term: st.Term, Leader: st.Leader, Commit: st.Commit, Applied: st.Applied,
		Voters: rs.Voters, Learners: rs.Learners,
		Sessions: st.Sessions, Watches: st.Watches, Connections: st.Connections,
		Version: Version, UptimeS: int64(time.Since(s.started).Seconds()),
	}
	if out.Voters == nil {
		out.Voters = []uint64{}
	}
	if withDigest {
		d, err := s.Digest()
		if err != nil {
			return Status{}, err
		}
		out.Digest = d.String()
		// The digest may be of a later index than Applied above.
		out.Applied = max(out.Applied, d.Index)
	}
	return out, nil
}

// status answers StatusPath.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	withDigest := true
	switch r.URL.Query().Get("digest") {
	case "", "true", "1":
	case "false", "0":
		withDigest = false
	default:
		http.Error(w, `digest: want true or false`, http.StatusBadRequest)
		return
	}
	st, err := s.Status(withDigest)
	if err != nil {
		s.log.Error("status", "err", err)
		http.Error(w, "cannot read the state: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
