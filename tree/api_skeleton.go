package tree

// TEMPORARY skeleton so helpers can compile against the API while the store
// is written; replaced by the real implementation before anything lands.

import (
	"errors"
	"io"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
)

var errTODO = errors.New("tree: not implemented yet")

// Options configures a Tree.
type Options struct {
	MaxDataBytes int
	Logger       *slog.Logger
}

// Tree is the znode state machine.
type Tree struct{}

// Open opens the tree stored in db.
func Open(db *pebble.DB, opts Options) (*Tree, error)                 { return nil, errTODO }
func (t *Tree) Applied() uint64                                       { return 0 }
func (t *Tree) Apply(entries []Entry) ([]Result, error)               { return nil, errTODO }
func (t *Tree) Get(path string, ids []Identity) ([]byte, Stat, error) { return nil, Stat{}, errTODO }
func (t *Tree) Exists(path string) (Stat, error)                      { return Stat{}, errTODO }
func (t *Tree) Children(path string, ids []Identity) ([]string, Stat, error) {
	return nil, Stat{}, errTODO
}
func (t *Tree) GetACL(path string, ids []Identity) ([]ACL, Stat, error)     { return nil, Stat{}, errTODO }
func (t *Tree) CountDescendants(path string, ids []Identity) (int64, error) { return 0, errTODO }
func (t *Tree) Ephemerals(session int64, prefix string) ([]string, error)   { return nil, errTODO }
func (t *Tree) ReadMulti(ops []ReadOp, ids []Identity) ([]ReadResult, uint64, error) {
	return nil, 0, errTODO
}
func (t *Tree) Session(id int64) (Session, error)                           { return Session{}, errTODO }
func (t *Tree) Sessions() ([]Session, error)                                { return nil, errTODO }
func (t *Tree) DeletionCandidates(nowMs int64, limit int) ([]string, error) { return nil, errTODO }
func (t *Tree) Digest() (Digest, error)                                     { return Digest{}, errTODO }
func (t *Tree) Export(w io.Writer) (Digest, error)                          { return Digest{}, errTODO }
func (t *Tree) Import(r io.Reader) (Digest, error)                          { return Digest{}, errTODO }
