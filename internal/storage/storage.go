package storage

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The key prefixes, one byte each.
const (
	PrefixState  byte = 's'
	PrefixRaft   byte = 'r'
	PrefixMember byte = 'm'
)

// DefaultCacheBytes is the block cache size when Options.CacheBytes is 0.
const DefaultCacheBytes = 256 << 20

// FormatMajorVersion is the on-disk format new stores are created with.
// Pebble's format ratchets are permanent, so it is pinned here and raised
// only deliberately.
const FormatMajorVersion = pebble.FormatValueSeparation

// Options configures Open.
type Options struct {
	// FS is the filesystem; nil means the operating system's. Tests pass
	// vfs.NewMem() or a crashable in-memory filesystem.
	FS vfs.FS
	// CacheBytes is the block cache size; 0 means DefaultCacheBytes.
	CacheBytes int64
	// Logger receives Pebble's log lines; nil discards them.
	Logger *slog.Logger
}

// Open opens (creating if needed) the database in dir.
//
// The store keeps no write-ahead log of its own (Pebble's DisableWAL): a
// write reaches disk only when the memtable holding it is flushed, by
// Pebble when it fills or by an explicit db.Flush or db.AsyncFlush, and
// a crash loses every write made since the last flush. The replicated
// state needs no second log: the Raft log holds every entry applied since,
// and a restart applies them again (the caller must never compact the Raft
// log past what is flushed). A write that must be durable on its own (the
// member record, the start and end of a snapshot's import) is made with
// pebble.NoSync and then flushed; pebble.Sync is refused.
func Open(dir string, opts Options) (*pebble.DB, error) {
	cacheBytes := opts.CacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultCacheBytes
	}
	cache := pebble.NewCache(cacheBytes)
	defer cache.Unref() // the DB holds its own reference
	po := &pebble.Options{
		FS:                 opts.FS,
		Cache:              cache,
		FormatMajorVersion: FormatMajorVersion,
		MemTableSize:       16 << 20,
		Logger:             pebbleLogger{logger(opts.Logger)},
		// The Raft log is the state's write-ahead log (see above): a second
		// one cost a 1 KiB set a write, a wake-up of Pebble's log writer
		// and the page cache's writeback of every byte again.
		DisableWAL: true,
	}
	if po.FS == nil {
		po.FS = vfs.Default
	}
	// Bloom filters on every level: point lookups (the stat of a node, a
	// parent's record on every create) dominate the state machine's reads.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", dir, err)
	}
	return db, nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// pebbleLogger adapts slog to Pebble's logger interface. Pebble's info
// lines (WAL recovery, compactions) go out at debug.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf logs and panics: Pebble calls it only on unrecoverable corruption,
// where continuing would risk serving or replicating bad state.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Log(context.Background(), slog.LevelError+4, msg, "component", "pebble")
	panic("pebble: " + msg)
}
