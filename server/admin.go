package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/arbor-coord/arbor/server/raftnode"
)

// The admin API on the client listener: the cluster's membership.
//
//	GET    /v1/members              the members, as this member knows them
//	POST   /v1/members              add a learner: {"id": 4, "peer_addr": "host:port"}
//	POST   /v1/members/{id}/promote make a caught-up learner a voter
//	DELETE /v1/members/{id}         remove a member (the leader too)
//
// Changes are made by the leader only: another member answers 421
// Misdirected Request with {"error": ..., "leader": id} (0 if it knows
// none), and the caller tries the next member. Every refusal is a 4xx
// (or 503 while no change can be made) with {"error": ...}, and changes
// nothing.
const (
	// MembersPath is the admin API's membership resource.
	MembersPath = "/v1/members"
	// PromoteMaxLagEntries is how far behind the leader's last index a
	// learner's log may be for it to be promoted.
	PromoteMaxLagEntries = 1000
	// maxAdminBodyBytes bounds an admin request's body.
	maxAdminBodyBytes = 4 << 10
)

// MemberInfo describes one member in GET /v1/members.
type MemberInfo struct {
	ID uint64 `json:"id"`
	// PeerAddr is the address its peers reach it at ("" if unknown).
	PeerAddr string `json:"peer_addr"`
	// Role is "voter" or "learner".
	Role string `json:"role"`
	// Match is, when the answering member is the leader, the index up to
	// which the member's log matches the leader's.
	Match *uint64 `json:"match,omitempty"`
	// IsLeader is set for the leader, as the answering member knows it.
	IsLeader bool `json:"is_leader"`
}

// AddMemberRequest is the body of POST /v1/members.
type AddMemberRequest struct {
	ID       uint64 `json:"id"`
	PeerAddr string `json:"peer_addr"`
	// Learner must be true or absent: members join as learners and are
	// promoted once caught up.
	Learner *bool `json:"learner,omitempty"`
}

// adminError is an admin API error response.
type adminError struct {
	Error  string `json:"error"`
	Leader uint64 `json:"leader,omitempty"`
}

func (s *Server) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET "+MembersPath, s.listMembers)
	mux.HandleFunc("POST "+MembersPath, s.addMember)
	mux.HandleFunc("POST "+MembersPath+"/{id}/promote", s.promoteMember)
	mux.HandleFunc("DELETE "+MembersPath+"/{id}", s.removeMember)
}

func writeAdminJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) adminFail(w http.ResponseWriter, code int, format string, args ...any) {
	writeAdminJSON(w, code, adminError{Error: fmt.Sprintf(format, args...)})
}

// members returns the membership as this member knows it.
func (s *Server) members() []MemberInfo {
	node := s.replica.node
	m, st := node.Membership(), node.Status()
	var out []MemberInfo
	for _, id := range m.Members() {
		info := MemberInfo{ID: id, PeerAddr: string(m.Contexts[id]), Role: "voter", IsLeader: id == st.Lead}
		if slices.Contains(m.Learners, id) {
			info.Role = "learner"
		}
		if match, ok := st.Progress[id]; ok {
			info.Match = &match
		}
		out = append(out, info)
	}
	return out
}

func (s *Server) listMembers(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, s.members())
}

// leaderOnly answers 421 and returns false unless this member leads.
func (s *Server) leaderOnly(w http.ResponseWriter) bool {
	st := s.replica.node.Status()
	if st.Role == raftnode.RoleLeader {
		return true
	}
	writeAdminJSON(w, http.StatusMisdirectedRequest, adminError{Error: fmt.Sprintf("member %d is not the leader", s.replica.id), Leader: st.Lead})
	return false
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request) {
	var req AddMemberRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.adminFail(w, http.StatusBadRequest, "bad request body: %v; want {\"id\": ID, \"peer_addr\": \"HOST:PORT\"}", err)
		return
	}
	if req.Learner != nil && !*req.Learner {
		s.adminFail(w, http.StatusBadRequest, "a member joins as a learner; promote it once it has caught up")
		return
	}
	if req.ID == 0 {
		s.adminFail(w, http.StatusBadRequest, "member id: want a positive integer")
		return
	}
	if err := (Cluster{req.ID: req.PeerAddr}).validate(); err != nil {
		s.adminFail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !s.leaderOnly(w) {
		return
	}
	m := s.replica.node.Membership()
	if slices.Contains(m.Members(), req.ID) {
		s.adminFail(w, http.StatusConflict, "member %d is already a member", req.ID)
		return
	}
	for id, addr := range m.Contexts {
		if string(addr) == req.PeerAddr {
			s.adminFail(w, http.StatusConflict, "peer address %s is member %d's", req.PeerAddr, id)
			return
		}
	}
	s.change(w, r, raftnode.Change{Type: raftnode.AddLearner, ID: req.ID, Context: []byte(req.PeerAddr)})
}

// memberID parses the {id} of the path and checks it is a member.
func (s *Server) memberID(w http.ResponseWriter, r *http.Request) (uint64, raftnode.Membership, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		s.adminFail(w, http.StatusBadRequest, "member id %q: want a positive integer", r.PathValue("id"))
		return 0, raftnode.Membership{}, false
	}
	if !s.leaderOnly(w) {
		return 0, raftnode.Membership{}, false
	}
	m := s.replica.node.Membership()
	if !slices.Contains(m.Members(), id) {
		s.adminFail(w, http.StatusNotFound, "member %d is not a member", id)
		return 0, m, false
	}
	return id, m, true
}

func (s *Server) promoteMember(w http.ResponseWriter, r *http.Request) {
	id, m, ok := s.memberID(w, r)
	if !ok {
		return
	}
	if !slices.Contains(m.Learners, id) {
		s.adminFail(w, http.StatusConflict, "member %d is already a voter", id)
		return
	}
	st := s.replica.node.Status()
	last := st.Progress[st.ID]
	if match := st.Progress[id]; match+PromoteMaxLagEntries < last {
		s.adminFail(w, http.StatusConflict, "member %d has not caught up: its log matches the leader's to %d, the leader's is at %d; retry once it is within %d entries", id, match, last, PromoteMaxLagEntries)
		return
	}
	s.change(w, r, raftnode.Change{Type: raftnode.AddVoter, ID: id})
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	id, _, ok := s.memberID(w, r)
	if !ok {
		return
	}
	s.change(w, r, raftnode.Change{Type: raftnode.RemoveMember, ID: id})
}

// change proposes c and answers with the membership after it.
func (s *Server) change(w http.ResponseWriter, r *http.Request, c raftnode.Change) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	_, err := s.replica.node.ProposeChange(ctx, c)
	switch {
	case err == nil:
		s.log.Info("membership changed through the admin API", "change", c.Type.String(), "member", c.ID, "peer_addr", string(c.Context))
		writeAdminJSON(w, http.StatusOK, s.members())
	case errors.Is(err, raftnode.ErrNotLeader):
		s.leaderOnly(w)
	case errors.Is(err, raftnode.ErrBadChange):
		s.adminFail(w, http.StatusConflict, "%s", strings.TrimPrefix(err.Error(), "raftnode: "))
	case errors.Is(err, raftnode.ErrChangeInProgress), errors.Is(err, raftnode.ErrChangeDropped), errors.Is(err, raftnode.ErrProposalDropped):
		s.adminFail(w, http.StatusServiceUnavailable, "%s; retry", strings.TrimPrefix(err.Error(), "raftnode: "))
	default:
		s.adminFail(w, http.StatusServiceUnavailable, "%s: the change may still be made; check %s", err, MembersPath)
	}
}
