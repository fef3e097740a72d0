package server

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Cluster maps each member's id to its peer address, HOST:PORT: the
// address its peers send Raft traffic to, on which it listens.
type Cluster map[uint64]string

// ParseCluster parses the --cluster syntax, "ID=HOST:PORT[,ID=HOST:PORT...]",
// for example "1=10.0.0.1:7281,2=10.0.0.2:7281,3=10.0.0.3:7281". Ids are
// positive integers; ids and addresses must each be unique.
func ParseCluster(s string) (Cluster, error) {
	c := Cluster{}
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("cluster: empty; want ID=HOST:PORT[,ID=HOST:PORT...]")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		idText, addr, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("cluster: member %q: want ID=HOST:PORT", part)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(idText), 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("cluster: member %q: the id must be a positive integer", part)
		}
		if _, dup := c[id]; dup {
			return nil, fmt.Errorf("cluster: member id %d given twice", id)
		}
		c[id] = strings.TrimSpace(addr)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks every address and that no two members share one.
func (c Cluster) validate() error {
	seen := make(map[string]uint64, len(c))
	for _, id := range c.IDs() {
		addr := c[id]
		if id == 0 {
			return errors.New("cluster: member id 0: ids are positive integers")
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("cluster: member %d: peer address %q: want HOST:PORT: %w", id, addr, err)
		}
		if host == "" {
			return fmt.Errorf("cluster: member %d: peer address %q: the host is missing (peers must be able to reach it)", id, addr)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("cluster: member %d: peer address %q: want a port from 1 to 65535", id, addr)
		}
		if other, dup := seen[addr]; dup {
			return fmt.Errorf("cluster: members %d and %d have the same peer address %s", other, id, addr)
		}
		seen[addr] = id
	}
	return nil
}

// Validate checks every id and address and that no two members share an
// address, as ParseCluster does.
func (c Cluster) Validate() error { return c.validate() }

// IDs returns the member ids in increasing order.
func (c Cluster) IDs() []uint64 {
	ids := make([]uint64, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// String renders c in the --cluster syntax, ids in increasing order.
func (c Cluster) String() string {
	var b strings.Builder
	for i, id := range c.IDs() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d=%s", id, c[id])
	}
	return b.String()
}

// Equal reports whether c and o name the same members at the same
// addresses.
func (c Cluster) Equal(o Cluster) bool {
	if len(c) != len(o) {
		return false
	}
	for id, addr := range c {
		if a, ok := o[id]; !ok || a != addr {
			return false
		}
	}
	return true
}

// clusterID derives the id both ends of a peer stream check, from the
// initial membership: members started with different --cluster values do
// not talk to each other.
func (c Cluster) clusterID() uint64 {
	h := fnv.New64a()
	h.Write([]byte(c.String()))
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}
