package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/server/raftnode"
	"github.com/arbor-coord/arbor/server/transport"
	"github.com/arbor-coord/arbor/server/ws"
	"github.com/arbor-coord/arbor/session"
	"github.com/arbor-coord/arbor/tree"
)

// Defaults of Config.
const (
	DefaultDataDir           = "arbor-data"
	DefaultListen            = "127.0.0.1:7181"
	DefaultMinSessionTimeout = 4 * time.Second
	DefaultMaxSessionTimeout = 40 * time.Second
	DefaultMaxInFlight       = 1024
	DefaultRequestTimeout    = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultReapInterval      = time.Second
	// WebSocketPath is the HTTP path of the client WebSocket endpoint.
	WebSocketPath = ws.DefaultPath
	// HealthPath answers 200 with a small JSON status while the member
	// serves, for load balancers and orchestrators.
	HealthPath = "/healthz"
)

// maxSnapshotEntries bounds Config.SnapshotEntries and
// SnapshotCatchUpEntries: a larger log tail is a configuration mistake.
const maxSnapshotEntries = 100_000_000

// Config configures a member. Zero values take the defaults.
type Config struct {
	// DataDir holds the member's store (Raft log and state, one Pebble
	// database); it is created if missing. Default DefaultDataDir.
	DataDir string
	// Listen is the client address, HOST:PORT: the WebSocket endpoint at
	// WebSocketPath and the health check at HealthPath. Port 0 picks a
	// free port (see Server.Addr). Default DefaultListen.
	Listen string
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// client may negotiate. Defaults: 4 s and 40 s (ZooKeeper's, for its
	// default tick).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// MaxDataBytes is the largest data a node may hold. Default 1 MiB.
	// Every member of a cluster must use the same value.
	MaxDataBytes int
	// MaxInFlight bounds the requests in flight on one connection; past
	// it the member stops reading from the connection until responses
	// drain. Default DefaultMaxInFlight.
	MaxInFlight int
	// RequestTimeout bounds how long a write waits to be applied, and a
	// connect to catch up to the client's last zxid, before the member
	// answers OperationTimeout. Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// WriteTimeout bounds one write to a client: a client that takes
	// nothing from its socket for this long (while the member has a
	// response or event for it) is dropped as a slow consumer. Default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ReapInterval is how often the member looks for container and TTL
	// nodes to delete. Default DefaultReapInterval.
	ReapInterval time.Duration
	// ID is this member's id in its cluster, a positive integer never
	// reused for another member. Required with Cluster on a member's
	// first start; otherwise it defaults to the id kept in the store, or 1
	// for a new member alone.
	ID uint64
	// Cluster maps every member's id to its peer address, this member's
	// included (it listens for its peers there). Empty means a cluster of
	// this member alone, with no peer listener. It is needed on a
	// member's first start only: the membership is then kept in the
	// store, and a Cluster given on a later start must agree with it.
	Cluster Cluster
	// PeerListen is the address this member listens on for its peers,
	// HOST:PORT, when that is not its own address in Cluster: behind a
	// proxy or a NAT, Cluster holds the address its peers dial and
	// PeerListen the one it binds. Default: its address in Cluster. It is
	// not stored: give it on every start.
	PeerListen string
	// Join starts a new member that joins a running cluster instead of
	// founding one (first start only): Cluster is then the cluster's
	// founding members (the Cluster they were started with) plus this
	// member, so that it derives the same cluster id and starts from the
	// same initial configuration. It waits, serving nothing useful, until
	// the leader adds it (POST /v1/members) and sends it the state.
	// Requires ID and Cluster.
	Join bool
	// Transport, if set, carries this member's traffic with its peers
	// instead of a TCP transport listening on its Cluster address: tests
	// (servertest) run clusters in one process on an in-memory network.
	// It is used only for a member of a cluster of more than one, and is
	// closed with the member.
	Transport transport.Transport
	// SnapshotEntries is how many entries are applied between two Raft
	// snapshots; each lets the Raft log be compacted. Default
	// raftnode.DefaultSnapshotEntries.
	SnapshotEntries uint64
	// SnapshotCatchUpEntries is how many entries the Raft log keeps behind
	// the latest snapshot, so that a member that lags by fewer catches up
	// from the log instead of by a snapshot. Default
	// raftnode.DefaultCatchUpEntries.
	SnapshotCatchUpEntries uint64
	// SuperDigest, if set, is the "user:base64(sha1(user:password))"
	// digest identity that is the super user (every ACL check passes), as
	// ZooKeeper's superDigest. Keep it for recovery.
	SuperDigest string
	// Pprof serves Go's profiles (net/http/pprof) at PprofPath on the
	// client listener, for finding where a member's time goes. Off by
	// default: profiles show internals and cost CPU while taken, so turn
	// it on only where the client address is not reachable by untrusted
	// hosts.
	Pprof bool
	// Logger receives the member's logs; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = min(DefaultMinSessionTimeout, max(c.MaxSessionTimeout, 0))
		if c.MinSessionTimeout == 0 {
			c.MinSessionTimeout = DefaultMinSessionTimeout
		}
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = max(DefaultMaxSessionTimeout, c.MinSessionTimeout)
	}
	if c.MaxDataBytes == 0 {
		c.MaxDataBytes = tree.DefaultMaxDataBytes
	}

	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = DefaultReapInterval
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = raftnode.DefaultSnapshotEntries
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = raftnode.DefaultCatchUpEntries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// sessionLimits derives the session tracker's settings: its tick (the
// lateness bound of an expiry) is a quarter of the minimum timeout, kept
// between 10 ms and 500 ms.
func (c Config) sessionLimits() session.Limits {
	l := session.DefaultLimits(min(max(c.MinSessionTimeout/4, 10*time.Millisecond), 500*time.Millisecond).Truncate(time.Millisecond))
	l.MinTimeout, l.MaxTimeout = c.MinSessionTimeout, c.MaxSessionTimeout
	return l
}

// Validate reports every problem of c (after defaults), joined, or nil.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: want HOST:PORT: %w", c.Listen, err))
	}
	if err := c.sessionLimits().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("session timeouts (min %v, max %v): %w", c.MinSessionTimeout, c.MaxSessionTimeout, err))
	}
	if c.MaxDataBytes < 0 || c.MaxDataBytes > tree.DefaultMaxDataBytes*4 {
		errs = append(errs, fmt.Errorf("max data size %d: want 1 to %d bytes", c.MaxDataBytes, tree.DefaultMaxDataBytes*4))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 1<<16 {
		errs = append(errs, fmt.Errorf("max in-flight requests %d: want 1 to %d", c.MaxInFlight, 1<<16))
	}
	if c.SnapshotEntries > maxSnapshotEntries || c.SnapshotCatchUpEntries > maxSnapshotEntries {
		errs = append(errs, fmt.Errorf("snapshot entries %d and catch-up entries %d: want 1 to %d", c.SnapshotEntries, c.SnapshotCatchUpEntries, maxSnapshotEntries))
	}
	if c.RequestTimeout < 0 || c.ReapInterval < 0 || c.WriteTimeout < 0 {
		errs = append(errs, errors.New("request timeout, write timeout and reap interval must not be negative"))
	}
	if len(c.Cluster) > 0 {
		switch err := c.Cluster.validate(); {
		case err != nil:
			errs = append(errs, err)
		case c.ID == 0:
			errs = append(errs, fmt.Errorf("member id: required with a cluster (one of %v)", c.Cluster.IDs()))
		case c.Cluster[c.ID] == "":
			errs = append(errs, fmt.Errorf("member id %d: not in the cluster %s", c.ID, c.Cluster))
		case c.Cluster[c.ID] == c.Listen && c.PeerListen == "":
			errs = append(errs, fmt.Errorf("listen address %s is also member %d's peer address: clients and peers need two addresses", c.Listen, c.ID))
		}
	}
	if c.PeerListen != "" {
		switch _, _, err := net.SplitHostPort(c.PeerListen); {
		case err != nil:
			errs = append(errs, fmt.Errorf("peer listen address %q: want HOST:PORT: %w", c.PeerListen, err))
		case c.PeerListen == c.Listen:
			errs = append(errs, fmt.Errorf("peer listen address %s is also the client listen address: clients and peers need two addresses", c.PeerListen))
		case c.Transport != nil:
			errs = append(errs, errors.New("peer listen address: not used with a Transport (it would be ignored)"))
		}
	}
	if c.Join && (len(c.Cluster) == 0 || c.ID == 0) {
		errs = append(errs, errors.New("join: requires the member id and the cluster (the founders' peer addresses and this member's)"))
	}
	if c.SuperDigest != "" {
		if user, hash, ok := splitDigestID(c.SuperDigest); !ok || user == "" || hash == "" {
			errs = append(errs, fmt.Errorf("super digest %q: want user:base64(sha1(user:password))", c.SuperDigest))
		}
	}
	return errors.Join(errs...)
}

// ErrRemoved is returned by Run when the member was removed from its
// cluster's configuration (DELETE /v1/members/ID, arbor member remove):
// it shuts down and must not be started again under its id.
var ErrRemoved = errors.New("removed from the cluster")

// Server is one arbor member. Create it with New, serve with Run.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ln       net.Listener
	replica  *replica
	sessions *sessions
	hub      *hub
	endpoint *ws.Endpoint
	http     *http.Server
	started  time.Time

	stopLoops context.CancelFunc
	loopsCtx  context.Context
	loops     sync.WaitGroup

	// leaderSeen is when the member last knew a leader, in Unix ns.
	leaderSeen atomic.Int64

	shutdownOnce sync.Once
	shutdownErr  error
}

// New opens (or creates) the member's store, starts its Raft node and
// binds its client listener. Nothing is served until Run. A config that
// does not validate, a store that cannot be opened and an address that
// cannot be bound are errors, and leave nothing running.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, started: time.Now()}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s.hub = newHub(s.log)
	var err error
	s.replica, err = openReplica(replicaConfig{
		dir:        cfg.DataDir,
		memberID:   cfg.ID,
		cluster:    cfg.Cluster,
		peerListen: cfg.PeerListen,
		join:       cfg.Join,
		transport:  cfg.Transport,
		tree:       tree.Options{MaxDataBytes: cfg.MaxDataBytes, Logger: s.log},

		snapshotEntries: cfg.SnapshotEntries,
		catchUpEntries:  cfg.SnapshotCatchUpEntries,
		view:            &s.hub.view,
		observe:         s.hub.observe,
		restored: func() {
			n := s.hub.closeAll(notice(wire.NoticeKind_NOTICE_KIND_GOODBYE, errcode.ConnectionLoss, "member caught up by a snapshot"))
			s.log.Info("state replaced by a snapshot: closed the client connections, whose clients resume with a watch catch-up", "connections", n)
		},
		logger: s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
	}
	s.hub.tree = s.replica.tree
	origin := time.Now()
	s.sessions, err = newSessions(s.replica, cfg.sessionLimits(), func() time.Duration { return time.Since(origin) }, s.log)
	if err != nil {
		_ = s.replica.close(context.Background())
		return nil, fmt.Errorf("sessions: %w", err)
	}
	s.sessions.proposeTimeout = cfg.RequestTimeout
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = s.replica.close(context.Background())
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.endpoint = ws.New(ws.Config{
		Handler:           handler{s},
		SendQueueMessages: 4 * cfg.MaxInFlight,
		WriteTimeout:      cfg.WriteTimeout,
		Logger:            s.log,
	})
	mux := http.NewServeMux()
	mux.Handle(WebSocketPath, s.endpoint)
	mux.HandleFunc(HealthPath, s.health)
	mux.HandleFunc("GET "+StatusPath, s.status)
	s.registerAdmin(mux)
	if cfg.Pprof {
		registerPprof(mux)
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.loopsCtx, s.stopLoops = context.WithCancel(context.Background())
	// A starting cluster needs up to two election timeouts to elect.
	s.leaderSeen.Store(time.Now().Add(leaderlessStartGrace).UnixNano())
	return s, nil
}

// Addr returns the address the client listener is bound to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves clients and runs the member's duties (session expiry,
// reaping of container and TTL nodes) until ctx ends, then shuts down
// gracefully (see Shutdown) and returns nil. It returns an error if the
// member fails (its Raft node or store stops), after shutting down.
func (s *Server) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(s.ln) }()
	s.loops.Add(3)
	go func() { defer s.loops.Done(); s.sessions.run(s.loopsCtx) }()
	go func() { defer s.loops.Done(); every(s.loopsCtx, s.cfg.ReapInterval, s.reap) }()
	go func() {
		defer s.loops.Done()
		every(s.loopsCtx, leaderCheckInterval, func(ctx context.Context) {
			s.checkLeader(ctx)
			s.replica.reproposeStale(ctx)
		})
	}()
	s.log.Info("arbor serving", "listen", s.Addr(), "data_dir", s.cfg.DataDir,
		"applied", s.replica.tree.Applied(), "session_timeout_min", s.cfg.MinSessionTimeout, "session_timeout_max", s.cfg.MaxSessionTimeout)
	var failure error
	select {
	case <-ctx.Done():
	case <-s.replica.node.Done():
		failure = fmt.Errorf("raft node stopped: %w", s.replica.node.Err())
	case <-s.replica.removedFromCluster():
		failure = ErrRemoved
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			failure = fmt.Errorf("serve: %w", err)
		}
	}
	if failure != nil {
		s.log.Error("member failed; shutting down", "err", failure)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return errors.Join(failure, s.Shutdown(sctx))
}

// Shutdown stops the member: as the leader of a cluster it first hands
// leadership to another voter; it stops accepting connections, says GOODBYE
// (ConnectionLoss) to each open one after its queued responses, stops the
// member's duties and its Raft node, and closes the store. Sessions live
// on in the store: their clients resume them after a restart. If ctx ends
// first, the remaining connections are closed at once. Calling it again
// returns the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.handOff(ctx)
		var errs []error
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
		if err := s.endpoint.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("connections: %w", err))
		}
		s.stopLoops()
		s.loops.Wait()
		if err := s.replica.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("store: %w", err))
		}
		s.shutdownErr = errors.Join(errs...)
		s.log.Info("arbor stopped", "err", s.shutdownErr)
	})
	return s.shutdownErr
}

// transferTimeout bounds the leadership transfer of a shutdown.
const transferTimeout = 5 * time.Second

// handOff transfers leadership to the most up-to-date other voter, if
// this member leads a cluster of more than one voter, so that a shutdown
// (a rolling restart) costs no election timeout of write unavailability.
// If the transfer fails, the shutdown goes on: the others elect a leader
// once they miss this one.
func (s *Server) handOff(ctx context.Context) {
	st := s.replica.node.Status()
	if st.Role != raftnode.RoleLeader || len(st.Voters) < 2 {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, transferTimeout)
	defer cancel()
	start := time.Now()
	if err := s.replica.node.TransferLeadership(tctx, 0); err != nil {
		s.log.Warn("leadership transfer before shutdown failed; stopping anyway", "err", err)
		return
	}
	s.log.Info("leadership transferred before shutdown", "to", s.replica.node.Status().Lead, "took", time.Since(start).Round(time.Millisecond))
}

// health answers HealthPath.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	st := s.replica.node.Status()
	body := map[string]any{
		"status":   "ok",
		"member":   s.replica.id,
		"leader":   st.Lead,
		"applied":  s.replica.applied.get(),
		"sessions": s.sessions.count(),
		"uptime_s": int64(time.Since(s.started).Seconds()),
	}
	code := http.StatusOK
	if st.Lead == 0 {
		body["status"] = "no leader"
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// every runs f at every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// A member that has known no leader for leaderlessGrace (after raft's own
// election timeout has passed without one; leaderlessStartGrace more after
// it starts) is cut off from its cluster:
// it closes its client connections and refuses new ones, so that clients
// move to a member that can serve them before their sessions expire, as
// ZooKeeper's followers do.
const (
	leaderlessGrace      = time.Second
	leaderlessStartGrace = 3 * time.Second
	leaderCheckInterval  = 100 * time.Millisecond
)

// checkLeader runs the leaderless rule every leaderCheckInterval.
func (s *Server) checkLeader(context.Context) {
	now := time.Now()
	if s.replica.node.Status().Lead != 0 {
		s.leaderSeen.Store(now.UnixNano())
		return
	}
	if s.leaderless() {
		if n := s.hub.closeAll(notice(wire.NoticeKind_NOTICE_KIND_GOODBYE, errcode.ConnectionLoss, "member has no leader")); n > 0 {
			s.log.Warn("no leader: closed the client connections", "connections", n, "grace", leaderlessGrace)
		}
	}
}

// leaderless reports whether the member has known no leader for
// leaderlessGrace.
func (s *Server) leaderless() bool {
	return time.Since(time.Unix(0, s.leaderSeen.Load())) > leaderlessGrace && s.replica.node.Status().Lead == 0
}

// reap proposes the deletion of the container and TTL nodes that are due.
// It is a leader duty (a single member is always the leader), run at every
// ReapInterval; the other members skip it.
func (s *Server) reap(ctx context.Context) {
	if s.replica.node.Status().Role != raftnode.RoleLeader {
		return
	}
	paths, err := s.replica.tree.DeletionCandidates(s.replica.now().UnixMilli(), 1000)
	if err != nil {
		s.log.Error("reap: list candidates", "err", err)
		return
	}
	for _, p := range paths {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		res, err := s.replica.propose(pctx, &tree.Command{System: true, Op: &tree.Reap{Path: p}})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("reap: not applied; retrying next round", "path", p, "err", err)
			}
			continue
		}
		s.log.Debug("reaped", "path", p, "code", res.Code.Name())
	}
}

// Stats are a member's counters and gauges, for status reports and
// metrics. Each is read atomically; the set is not.
type Stats struct {
	ID                uint64 // the member's id
	Role              string // leader, follower, learner, candidate or precandidate
	Term              uint64 // the raft term
	Leader            uint64 // the leader's id, 0 if none is known
	Commit            uint64 // the highest index known committed
	Applied           uint64 // the applied index (the member's zxid)
	Sessions          int    // sessions tracked (open in the cluster)
	Watches           int    // watch registrations on this member
	Connections       int64  // client connections open now
	SlowConsumerDrops uint64 // connections dropped for not reading
	BadFrames         uint64 // connections closed for a bad frame
}

// Stats returns the member's current counters.
func (s *Server) Stats() Stats {
	ws, ep, st := s.hub.stats(), s.endpoint.Stats(), s.replica.node.Status()
	role := string(st.Role)
	if st.Role == raftnode.RoleFollower && slices.Contains(st.Learners, s.replica.id) {
		role = "learner"
	}
	return Stats{
		ID:                s.replica.id,
		Role:              role,
		Term:              st.Term,
		Leader:            st.Lead,
		Commit:            st.Commit,
		Applied:           s.replica.applied.get(),
		Sessions:          s.sessions.count(),
		Watches:           ws.Watches,
		Connections:       ep.ConnectionsOpen,
		SlowConsumerDrops: ep.SlowConsumerDrops,
		BadFrames:         ep.BadFrames,
	}
}

// Digest returns the digest of the member's state at its applied index,
// read from one consistent view: members that applied the same log have
// equal digests.
func (s *Server) Digest() (tree.Digest, error) { return s.replica.tree.Digest() }
