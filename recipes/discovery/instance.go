package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// The outcomes a caller is expected to handle, for errors.Is. Invalid
// arguments are reported with errors that match client.ErrBadArguments.
var (
	// ErrNoInstances is returned by a pick from an empty list.
	ErrNoInstances = errors.New("discovery: no instances")
	// ErrDuplicate is returned by Register when the ID is registered by
	// another session (or held by a node that is not a registration).
	ErrDuplicate = errors.New("discovery: instance ID registered by another session")
	// ErrLost is returned by Update when the registration is gone: its
	// session ended, or its node was deleted by someone else.
	ErrLost = errors.New("discovery: registration lost")
	// ErrUndecodable matches the error Instances returns, beside the
	// instances it could decode, when some entries could not be decoded.
	ErrUndecodable = errors.New("discovery: undecodable entries skipped")
	// ErrClosed is returned by a Service after Close.
	ErrClosed = errors.New("discovery: service watch closed")
)

const (
	// MaxWeight is the largest Weight an instance may have.
	MaxWeight = 1_000_000
	// MaxDataBytes bounds an instance's encoded data, so that one read
	// of a service of MaxReadBatch instances fits in one frame.
	MaxDataBytes = 8 << 10
	// MaxReadBatch is the most instances read in one ReadMulti; a larger
	// service is read in several, which may see different states.
	MaxReadBatch = 256
)

// Instance is one registered instance of a service.
type Instance struct {
	// ID names the instance within its service: one path element,
	// unique among the service's live instances.
	ID string
	// Addr is where to reach it, e.g. "10.0.0.7:8443"; not empty.
	Addr string
	// Meta is free-form metadata (zone, version, ...).
	Meta map[string]string
	// Weight is its share of the traffic for the weighted balancers,
	// 1 to MaxWeight; 0 means 1, and the instances read back have 1.
	Weight int
}

// record is an instance's node data. The ID is the node's name.
type record struct {
	Addr   string            `json:"addr"`
	Meta   map[string]string `json:"meta,omitempty"`
	Weight int               `json:"weight"`
}

// checkName checks that name (what, e.g. "service") is one valid path
// element.
func checkName(op, what, name string) error {
	if err := client.ValidateName(name); err != nil {
		return badArg(op, fmt.Sprintf("%s %q", what, name), err)
	}
	return nil
}

// checkRoot checks the root path.
func checkRoot(op, root string) error {
	if err := client.ValidatePath(root); err != nil {
		return badArg(op, fmt.Sprintf("root %q", root), err)
	}
	return nil
}

// badArg is the error of a wrong argument (what) that the client refused
// with err: it says which call and what is wrong, and matches
// client.ErrBadArguments.
func badArg(op, what string, err error) error {
	reason := err.Error()
	var ce *client.Error
	if errors.As(err, &ce) && ce.Reason != "" {
		reason = ce.Reason
	}
	return fmt.Errorf("discovery: %s: %s: %s: %w", op, what, reason, client.ErrBadArguments)
}

// serviceDir checks root and service and returns the service's node.
func serviceDir(op, root, service string) (string, error) {
	if err := checkRoot(op, root); err != nil {
		return "", err
	}
	if err := checkName(op, "service", service); err != nil {
		return "", err
	}
	return znode.Join(root, service), nil
}

// encode checks inst and returns it normalised (Weight 0 made 1, Meta
// copied) with its node data.
func encode(op string, inst Instance) (Instance, []byte, error) {
	if err := checkName(op, "instance ID", inst.ID); err != nil {
		return Instance{}, nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("discovery: %s: instance %q: %s: %w", op, inst.ID, fmt.Sprintf(format, args...), client.ErrBadArguments)
	}
	if inst.Addr == "" {
		return Instance{}, nil, bad("empty Addr")
	}
	if inst.Weight < 0 || inst.Weight > MaxWeight {
		return Instance{}, nil, bad("Weight %d out of range 0 to %d", inst.Weight, MaxWeight)
	}
	if inst.Weight == 0 {
		inst.Weight = 1
	}
	if inst.Meta != nil {
		m := make(map[string]string, len(inst.Meta))
		for k, v := range inst.Meta {
			m[k] = v
		}
		inst.Meta = m
	}
	data, err := json.Marshal(record{Addr: inst.Addr, Meta: inst.Meta, Weight: inst.Weight})
	if err != nil {
		return Instance{}, nil, bad("%v", err)
	}
	if len(data) > MaxDataBytes {
		return Instance{}, nil, bad("encoded data of %d bytes, more than %d", len(data), MaxDataBytes)
	}
	return inst, data, nil
}

// decode returns the instance named id with node data data, checked as
// Register checks it.
func decode(id string, data []byte) (Instance, error) {
	var rec record
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&rec); err != nil {
		return Instance{}, fmt.Errorf("not an instance record: %v", err)
	}
	if dec.More() {
		return Instance{}, errors.New("not an instance record: data after the JSON object")
	}
	if rec.Weight == 0 {
		rec.Weight = 1
	}
	inst, _, err := encode("decode", Instance{ID: id, Addr: rec.Addr, Meta: rec.Meta, Weight: rec.Weight})
	return inst, err
}
