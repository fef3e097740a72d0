package server

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/arbor-coord/arbor/internal/storage"
)

// memberKey holds the member's record (storage.PrefixMember).
var memberKey = []byte{storage.PrefixMember, 'r'}

// memberRecord is what a member keeps of itself outside Raft, written on
// its first start: its id, the peer addresses of the cluster it was
// started with (empty for a member alone) and whether it joined a running
// cluster. A restart needs neither --id nor --cluster; given, they must
// agree with it.
//
// The record is not updated when the membership changes: it only fixes
// the id, the cluster id both ends of a peer stream check (derived from
// the founders' addresses) and the founders that raft's initial
// configuration is made of. The current members and their peer addresses
// are raft's, kept with its configuration in the raft log and carried by
// snapshots (raftnode Membership.Contexts); the replica brings its
// transport in line with them at start and on every change.
type memberRecord struct {
	ID      uint64  `json:"id"`
	Cluster Cluster `json:"cluster,omitempty"`
	// Join is set for a member started with --join: Cluster is then the
	// founders' addresses plus its own.
	Join bool `json:"join,omitempty"`
}

// resolveMember returns this member's record: the stored one, checked
// against cfg's ID and Cluster, or on a first start the one cfg gives,
// stored (synced) before anything else is written.
func resolveMember(db *pebble.DB, cfg Config) (memberRecord, error) {
	v, closer, err := db.Get(memberKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		rec := memberRecord{ID: cfg.ID, Cluster: cfg.Cluster, Join: cfg.Join}
		if rec.ID == 0 {
			rec.ID = 1 // Validate requires an id with a cluster
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return memberRecord{}, fmt.Errorf("member record: %w", err)
		}
		// The store has no WAL (internal/storage): a flush makes it durable.
		if err := db.Set(memberKey, b, pebble.NoSync); err != nil {
			return memberRecord{}, fmt.Errorf("member record: %w", err)
		}
		if err := db.Flush(); err != nil {
			return memberRecord{}, fmt.Errorf("member record: %w", err)
		}
		return rec, nil
	case err != nil:
		return memberRecord{}, fmt.Errorf("member record: %w", err)
	}
	var rec memberRecord
	err = json.Unmarshal(v, &rec)
	closer.Close()
	if err != nil || rec.ID == 0 {
		return memberRecord{}, fmt.Errorf("member record %q: corrupt (%v)", v, err)
	}
	if cfg.ID != 0 && cfg.ID != rec.ID {
		return memberRecord{}, fmt.Errorf("member id %d: this data dir belongs to member %d", cfg.ID, rec.ID)
	}
	if len(cfg.Cluster) > 0 && !cfg.Cluster.Equal(rec.Cluster) {
		stored := rec.Cluster.String()
		if stored == "" {
			stored = "none: a member alone"
		}
		return memberRecord{}, fmt.Errorf("cluster %s disagrees with the membership this member was started with (%s); "+
			"start it without --cluster, or use a new data dir", cfg.Cluster, stored)
	}
	return rec, nil
}

// founders returns the peer addresses of the cluster's founding members
// (its initial voters): Cluster, without this member if it joined.
func (r memberRecord) founders() Cluster {
	if !r.Join {
		return r.Cluster
	}
	f := make(Cluster, len(r.Cluster))
	for id, addr := range r.Cluster {
		if id != r.ID {
			f[id] = addr
		}
	}
	return f
}

// peers returns the voting members of a new cluster.
func (r memberRecord) peers() []uint64 {
	if len(r.Cluster) == 0 {
		return []uint64{r.ID}
	}
	return r.founders().IDs()
}

// peerContexts returns the founders' peer addresses as raftnode contexts.
func (r memberRecord) peerContexts() map[uint64][]byte {
	f := r.founders()
	ctxs := make(map[uint64][]byte, len(f))
	for id, addr := range f {
		ctxs[id] = []byte(addr)
	}
	return ctxs
}

// clusterID is the id of the cluster, derived from its founders.
func (r memberRecord) clusterID() uint64 { return r.founders().clusterID() }
