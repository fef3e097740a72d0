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
// its first start: its id, and the peer addresses of the cluster it was
// started in (empty for a member alone). A restart needs neither --id nor
// --cluster; given, they must agree with it.
type memberRecord struct {
	ID      uint64  `json:"id"`
	Cluster Cluster `json:"cluster,omitempty"`
}

// resolveMember returns this member's record: the stored one, checked
// against cfg's ID and Cluster, or on a first start the one cfg gives,
// stored (synced) before anything else is written.
func resolveMember(db *pebble.DB, cfg Config) (memberRecord, error) {
	v, closer, err := db.Get(memberKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		rec := memberRecord{ID: cfg.ID, Cluster: cfg.Cluster}
		if rec.ID == 0 {
			rec.ID = 1 // Validate requires an id with a cluster
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return memberRecord{}, fmt.Errorf("member record: %w", err)
		}
		if err := db.Set(memberKey, b, pebble.Sync); err != nil {
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

// peers returns the voting members of a new cluster.
func (r memberRecord) peers() []uint64 {
	if len(r.Cluster) == 0 {
		return []uint64{r.ID}
	}
	return r.Cluster.IDs()
}
