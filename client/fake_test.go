package client

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/internal/zpath"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"
)

// fakeServer is a single in-memory member speaking internal/wire, good
// enough for the client's tests: the tree's ops without TTL or container
// reaping, one-shot watches with catch-up, exactly-once writes, and knobs
// to drop connections, withhold responses, refuse connections and expire
// sessions.
type fakeServer struct {
	t    testing.TB
	srv  *httptest.Server
	addr string

	mu          sync.Mutex
	zxid        uint64
	nodes       map[string]*fnode
	sessions    map[int64]*fsession
	nextSession int64
	conns       map[*fconn]bool
	events      []pendingEvent // of the write being applied

	// knobs
	gate          chan struct{} // non-nil: requests wait until it is closed
	dropAfter     int           // drop the connection after applying this many more writes, before answering
	refuse        bool          // refuse WebSocket handshakes
	timeoutMs     int32         // if non-zero, the negotiated session timeout
	received      int           // requests read, for the pipelining test
	seen, applied map[int64]map[uint64]int
}

type fnode struct {
	data     []byte
	acl      []*wire.ACL
	stat     *wire.Stat
	children map[string]bool
}

type fsession struct {
	id      int64
	pw      []byte
	timeout int32
	gone    bool
	conn    *fconn
	watches map[watchKey]bool
	ids     []string // digest identities
	results map[uint64]*wire.Response
	acked   uint64
}

type fconn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	sess *fsession
	in   chan *wire.Request
	done chan struct{}
	once sync.Once
}

type pendingEvent struct {
	sess *fsession
	ev   *wire.Event
}

func newFakeServer(t testing.TB) *fakeServer {
	s := &fakeServer{
		t:        t,
		nodes:    map[string]*fnode{"/": {acl: openACL(), stat: &wire.Stat{}, children: map[string]bool{}}},
		sessions: map[int64]*fsession{},
		conns:    map[*fconn]bool{},
		seen:     map[int64]map[uint64]int{},
		applied:  map[int64]map[uint64]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.handle)
	s.srv = httptest.NewServer(mux)
	s.addr = strings.TrimPrefix(s.srv.URL, "http://")
	t.Cleanup(func() {
		s.dropAll()
		s.srv.Close()
	})
	return s
}

func openACL() []*wire.ACL { return []*wire.ACL{{Perms: 31, Scheme: "world", Id: "anyone"}} }

// withhold makes the member stop answering (pings included) until release.
func (s *fakeServer) withhold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

func (s *fakeServer) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

func (s *fakeServer) setRefuse(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = v
}

func (s *fakeServer) setDropAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAfter = n
}

// dropAll closes every connection without a notice, as a network loss would.
func (s *fakeServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for fc := range s.conns {
		fc.close()
	}
}

// expire expires a session as the leader would: ephemerals deleted, the
// SESSION_EXPIRED notice, the close.
func (s *fakeServer) expire(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	s.endSessionLocked(sess)
	if fc := sess.conn; fc != nil {
		s.sendLocked(fc, &wire.ServerMessage{Kind: &wire.ServerMessage_Notice{Notice: &wire.Notice{
			Kind: wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED, Code: int32(errcode.SessionExpired), Reason: "expired by test"}}})
		fc.close()
	}
}

// setData changes a node behind the clients' backs (no events), for catch-up.
func (s *fakeServer) setData(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zxid++
	n := s.nodes[path]
	n.data = data
	n.stat.Version++
	n.stat.Mzxid = int64(s.zxid)
}

func (s *fakeServer) counts(id int64, seq uint64) (seen, applied int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[id][seq], s.applied[id][seq]
}

func (s *fakeServer) receivedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

func (s *fakeServer) hasWatch(id int64, path string, kind wire.WatchKind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id].watches[watchKey{path, kind}]
}

func (s *fakeServer) hasNode(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[path] != nil
}

func (fc *fconn) close() {
	fc.once.Do(func() {
		fc.ws.Close()
		close(fc.done)
	})
}

func (s *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	if refuse {
		http.Error(w, "refused by test", http.StatusServiceUnavailable)
		return
	}
	up := websocket.Upgrader{Subprotocols: []string{wire.SubprotocolProto}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(wire.MaxFrameBytes)
	fc := &fconn{ws: ws, in: make(chan *wire.Request, 1<<16), done: make(chan struct{})}
	s.mu.Lock()
	s.conns[fc] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, fc)
		s.mu.Unlock()
		fc.close()
	}()
	go s.serve(fc)
	// The reader runs ahead of the processing, so a withheld member still
	// reads what the client pipelines.
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		req, err := wire.DecodeRequest(b)
		if err != nil {
			s.t.Errorf("fake server: client sent a malformed frame: %v", err)
			return
		}
		s.mu.Lock()
		s.received++
		s.mu.Unlock()
		select {
		case fc.in <- req:
		default:
			s.t.Errorf("fake server: input queue full")
			return
		}
	}
}

func (s *fakeServer) serve(fc *fconn) {
	for {
		var req *wire.Request
		select {
		case req = <-fc.in:
		case <-fc.done:
			return
		}
		s.mu.Lock()
		gate := s.gate
		s.mu.Unlock()
		if gate != nil && fc.sess != nil {
			select {
			case <-gate:
			case <-fc.done:
				return
			}
		}
		s.mu.Lock()
		s.requestLocked(fc, req)
		s.mu.Unlock()
	}
}

func (s *fakeServer) sendLocked(fc *fconn, m *wire.ServerMessage) {
	b, err := wire.EncodeServerMessage(m)
	if err != nil {
		s.t.Errorf("fake server: encode: %v", err)
		return
	}
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	fc.ws.WriteMessage(websocket.BinaryMessage, b)
}

func (s *fakeServer) respondLocked(fc *fconn, r *wire.Response) {
	s.sendLocked(fc, &wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: r}})
}

func (s *fakeServer) requestLocked(fc *fconn, req *wire.Request) {
	if c := req.GetConnect(); c != nil {
		s.connectLocked(fc, req.Id, c)
		return
	}
	sess := fc.sess
	if sess == nil || sess.conn != fc {
		fc.close()
		return
	}
	if sess.gone {
		s.respondLocked(fc, &wire.Response{Id: req.Id, Code: int32(errcode.SessionExpired), Zxid: s.zxid})
		return
	}
	if !req.IsWrite() {
		resp := s.readLocked(sess, req)
		resp.Id, resp.Zxid = req.Id, s.zxid
		s.respondLocked(fc, resp)
		if req.GetCloseSession() != nil {
			fc.close()
		}
		return
	}

	if s.seen[sess.id] == nil {
		s.seen[sess.id], s.applied[sess.id] = map[uint64]int{}, map[uint64]int{}
	}
	s.seen[sess.id][req.Seq]++
	var resp *wire.Response
	switch rec := sess.results[req.Seq]; {
	case rec != nil:
		resp = rec
	case req.Seq < sess.acked:
		resp = &wire.Response{Code: int32(errcode.BadArguments)}
	default:
		s.events = nil
		resp = s.writeLocked(sess, req)
		s.applied[sess.id][req.Seq]++
		sess.results[req.Seq] = resp
		for _, pe := range s.events {
			if pe.sess.conn != nil {
				s.sendLocked(pe.sess.conn, &wire.ServerMessage{Kind: &wire.ServerMessage_Event{Event: pe.ev}})
			}
		}
	}
	if req.LowestUnackedSeq > sess.acked {
		sess.acked = req.LowestUnackedSeq
		for seq := range sess.results {
			if seq < sess.acked {
				delete(sess.results, seq)
			}
		}
	}
	if s.dropAfter > 0 {
		s.dropAfter--
		if s.dropAfter == 0 {
			fc.close()
			return
		}
	}
	out := &wire.Response{Id: req.Id, Code: resp.Code, Zxid: s.zxid}
	switch r := resp.Result.(type) {
	case *wire.Response_Create:
		out.Result = r
	case *wire.Response_Stat:
		out.Result = r
	case *wire.Response_Multi:
		out.Result = r
	}
	s.respondLocked(fc, out)
}

func (s *fakeServer) connectLocked(fc *fconn, id uint64, c *wire.Connect) {
	if fc.sess != nil {
		s.respondLocked(fc, &wire.Response{Id: id, Code: int32(errcode.BadArguments)})
		return
	}
	var sess *fsession
	if c.SessionId == 0 {
		s.nextSession++
		timeout := c.TimeoutMs
		if s.timeoutMs != 0 {
			timeout = s.timeoutMs
		}
		sess = &fsession{id: s.nextSession, pw: []byte(fmt.Sprint("pw", s.nextSession)), timeout: timeout,
			watches: map[watchKey]bool{}, results: map[uint64]*wire.Response{}}
		s.sessions[sess.id] = sess
	} else {
		sess = s.sessions[c.SessionId]
		if sess == nil || sess.gone || !bytes.Equal(sess.pw, c.Password) {
			s.respondLocked(fc, &wire.Response{Id: id, Code: int32(errcode.SessionExpired), Zxid: s.zxid})
			s.sendLocked(fc, &wire.ServerMessage{Kind: &wire.ServerMessage_Notice{Notice: &wire.Notice{
				Kind: wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED, Code: int32(errcode.SessionExpired)}}})
			fc.close()
			return
		}
		if old := sess.conn; old != nil && old != fc {
			old.close()
		}
	}
	sess.ids = nil
	for _, a := range c.Auth {
		if code := s.addAuthLocked(sess, a.Scheme, a.Auth); code != errcode.Ok {
			s.respondLocked(fc, &wire.Response{Id: id, Code: int32(code), Zxid: s.zxid})
			fc.close()
			return
		}
	}
	sess.conn, fc.sess = fc, sess
	s.respondLocked(fc, &wire.Response{Id: id, Zxid: s.zxid, Result: &wire.Response_Connect{Connect: &wire.ConnectResult{
		ProtocolVersion: 1, SessionId: sess.id, Password: sess.pw, TimeoutMs: sess.timeout, MemberId: 1}}})
	// Re-register and catch up (one-shot kinds only).
	for _, w := range c.Watches {
		k := watchKey{w.Path, w.Kind}
		if w.Kind == wire.WatchKind_WATCH_KIND_PERSISTENT || w.Kind == wire.WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE {
			sess.watches[k] = true // no catch-up for persistent kinds in the fake
			continue
		}
		n := s.nodes[w.Path]
		var typ wire.EventType
		switch {
		case w.Kind == wire.WatchKind_WATCH_KIND_EXISTS && n != nil:
			typ = wire.EventType_EVENT_TYPE_NODE_CREATED
		case w.Kind != wire.WatchKind_WATCH_KIND_EXISTS && n == nil:
			typ = wire.EventType_EVENT_TYPE_NODE_DELETED
		case w.Kind == wire.WatchKind_WATCH_KIND_DATA && uint64(n.stat.Mzxid) > c.LastZxid:
			typ = wire.EventType_EVENT_TYPE_NODE_DATA_CHANGED
		case w.Kind == wire.WatchKind_WATCH_KIND_CHILDREN && uint64(n.stat.Pzxid) > c.LastZxid:
			typ = wire.EventType_EVENT_TYPE_NODE_CHILDREN_CHANGED
		}
		if typ == 0 {
			sess.watches[k] = true
			continue
		}
		s.sendLocked(fc, &wire.ServerMessage{Kind: &wire.ServerMessage_Event{Event: &wire.Event{
			Type: typ, Path: w.Path, Zxid: s.zxid, Kinds: []wire.WatchKind{w.Kind}, CatchUp: true}}})
	}
}

func (s *fakeServer) addAuthLocked(sess *fsession, scheme string, auth []byte) errcode.Code {
	user, _, ok := strings.Cut(string(auth), ":")
	if scheme != "digest" || !ok || user == "" {
		return errcode.AuthFailed
	}
	sess.ids = append(sess.ids, user+":"+digest(string(auth)))
	return errcode.Ok
}

func (s *fakeServer) allowed(sess *fsession, n *fnode, perm int32) bool {
	for _, a := range n.acl {
		if a.Perms&perm == 0 {
			continue
		}
		if a.Scheme == "world" && a.Id == "anyone" || a.Scheme == "digest" && slices.Contains(sess.ids, a.Id) {
			return true
		}
	}
	return false
}

func (s *fakeServer) endSessionLocked(sess *fsession) {
	sess.gone = true
	s.zxid++
	for _, p := range slices.Sorted(maps.Keys(s.nodes)) {
		if n := s.nodes[p]; n != nil && n.stat.EphemeralOwner == sess.id {
			s.deleteNodeLocked(p)
		}
	}
}

// fireLocked queues the event for every session watching path with kind.
func (s *fakeServer) fireLocked(path string, typ wire.EventType, kinds ...wire.WatchKind) {
	for _, sess := range s.sessions {
		var fired []wire.WatchKind
		for _, k := range kinds {
			if sess.watches[watchKey{path, k}] {
				delete(sess.watches, watchKey{path, k})
				fired = append(fired, k)
			}
		}
		if sess.watches[watchKey{path, wire.WatchKind_WATCH_KIND_PERSISTENT}] {
			fired = append(fired, wire.WatchKind_WATCH_KIND_PERSISTENT)
		}
		if typ != wire.EventType_EVENT_TYPE_NODE_CHILDREN_CHANGED {
			for p := path; ; p = zpath.Parent(p) {
				if sess.watches[watchKey{p, wire.WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE}] {
					fired = append(fired, wire.WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE)
					break
				}
				if p == "/" {
					break
				}
			}
		}
		if len(fired) > 0 {
			s.events = append(s.events, pendingEvent{sess, &wire.Event{Type: typ, Path: path, Zxid: s.zxid, Kinds: fired}})
		}
	}
}

func (s *fakeServer) readLocked(sess *fsession, req *wire.Request) *wire.Response {
	code := func(c errcode.Code) *wire.Response { return &wire.Response{Code: int32(c)} }
	switch op := req.Op.(type) {
	case *wire.Request_Ping, *wire.Request_Sync:
		return &wire.Response{}
	case *wire.Request_CloseSession:
		s.endSessionLocked(sess)
		return &wire.Response{}
	case *wire.Request_AddAuth:
		return code(s.addAuthLocked(sess, op.AddAuth.Scheme, op.AddAuth.Auth))
	case *wire.Request_GetData:
		n := s.nodes[op.GetData.Path]
		if n == nil {
			return code(errcode.NoNode)
		}
		if !s.allowed(sess, n, 1) {
			return code(errcode.NoAuth)
		}
		if op.GetData.Watch {
			sess.watches[watchKey{op.GetData.Path, wire.WatchKind_WATCH_KIND_DATA}] = true
		}
		st := cloneStat(n.stat)
		return &wire.Response{Result: &wire.Response_GetData{GetData: &wire.GetDataResult{Data: n.data, Stat: st}}}
	case *wire.Request_Exists:
		n := s.nodes[op.Exists.Path]
		if n == nil {
			if op.Exists.Watch {
				sess.watches[watchKey{op.Exists.Path, wire.WatchKind_WATCH_KIND_EXISTS}] = true
			}
			return code(errcode.NoNode)
		}
		if op.Exists.Watch {
			sess.watches[watchKey{op.Exists.Path, wire.WatchKind_WATCH_KIND_DATA}] = true
		}
		st := cloneStat(n.stat)
		return &wire.Response{Result: &wire.Response_Stat{Stat: &wire.StatResult{Stat: st}}}
	case *wire.Request_GetChildren:
		n := s.nodes[op.GetChildren.Path]
		if n == nil {
			return code(errcode.NoNode)
		}
		if !s.allowed(sess, n, 1) {
			return code(errcode.NoAuth)
		}
		if op.GetChildren.Watch {
			sess.watches[watchKey{op.GetChildren.Path, wire.WatchKind_WATCH_KIND_CHILDREN}] = true
		}
		st := cloneStat(n.stat)
		return &wire.Response{Result: &wire.Response_GetChildren{GetChildren: &wire.GetChildrenResult{
			Children: slices.Sorted(maps.Keys(n.children)), Stat: st}}}
	case *wire.Request_ReadMulti:
		res := &wire.ReadMultiResult{}
		for _, o := range op.ReadMulti.Ops {
			n := s.nodes[o.Path]
			r := &wire.ReadResult{}
			switch {
			case n == nil:
				r.Code = int32(errcode.NoNode)
			case o.Kind != wire.ReadKind_READ_KIND_EXISTS && !s.allowed(sess, n, 1):
				r.Code = int32(errcode.NoAuth)
			default:
				r.Stat = cloneStat(n.stat)
				switch o.Kind {
				case wire.ReadKind_READ_KIND_GET_DATA:
					r.Data = n.data
				case wire.ReadKind_READ_KIND_GET_CHILDREN:
					r.Children = slices.Sorted(maps.Keys(n.children))
				}
			}
			res.Results = append(res.Results, r)
		}
		return &wire.Response{Result: &wire.Response_ReadMulti{ReadMulti: res}}
	case *wire.Request_CountDescendants:
		n := s.nodes[op.CountDescendants.Path]
		if n == nil {
			return code(errcode.NoNode)
		}
		if !s.allowed(sess, n, 1) {
			return code(errcode.NoAuth)
		}
		var count int64
		for p := range s.nodes {
			if p != op.CountDescendants.Path && zpath.IsWithin(p, op.CountDescendants.Path) {
				count++
			}
		}
		return &wire.Response{Result: &wire.Response_CountDescendants{CountDescendants: &wire.CountDescendantsResult{Count: count}}}
	case *wire.Request_GetEphemerals:
		var paths []string
		for p, n := range s.nodes {
			if n.stat.EphemeralOwner == sess.id && zpath.IsWithin(p, op.GetEphemerals.PathPrefix) {
				paths = append(paths, p)
			}
		}
		slices.Sort(paths)
		return &wire.Response{Result: &wire.Response_GetEphemerals{GetEphemerals: &wire.GetEphemeralsResult{Paths: paths}}}
	case *wire.Request_AddWatch:
		sess.watches[watchKey{op.AddWatch.Path, op.AddWatch.Kind}] = true
		return &wire.Response{}
	case *wire.Request_RemoveWatches:
		found := false
		for _, k := range op.RemoveWatches.Kinds {
			found = found || sess.watches[watchKey{op.RemoveWatches.Path, k}]
			delete(sess.watches, watchKey{op.RemoveWatches.Path, k})
		}
		if !found {
			return code(errcode.NoWatcher)
		}
		return &wire.Response{}
	case *wire.Request_GetAcl:
		n := s.nodes[op.GetAcl.Path]
		if n == nil {
			return code(errcode.NoNode)
		}
		st := cloneStat(n.stat)
		return &wire.Response{Result: &wire.Response_GetAcl{GetAcl: &wire.GetACLResult{Acl: n.acl, Stat: st}}}
	}
	return code(errcode.Unimplemented)
}

// writeLocked applies one write; a failed multi leaves the tree as it was.
func (s *fakeServer) writeLocked(sess *fsession, req *wire.Request) *wire.Response {
	s.zxid++
	switch op := req.Op.(type) {
	case *wire.Request_Multi:
		saved := make(map[string]*fnode, len(s.nodes))
		for p, n := range s.nodes {
			saved[p] = &fnode{data: n.data, acl: n.acl, stat: cloneStat(n.stat), children: maps.Clone(n.children)}
		}
		res := &wire.MultiResult{}
		failed := errcode.Ok
		for _, o := range op.Multi.Ops {
			if failed != errcode.Ok {
				res.Results = append(res.Results, &wire.OpResult{Code: int32(errcode.RuntimeInconsistency)})
				continue
			}
			var r *wire.OpResult
			switch o := o.Op.(type) {
			case *wire.MultiOp_Create:
				p, st, c := s.createLocked(sess, o.Create)
				r = &wire.OpResult{Code: int32(c), Path: p, Stat: st}
			case *wire.MultiOp_Delete:
				r = &wire.OpResult{Code: int32(s.deleteLocked(sess, o.Delete.Path, o.Delete.Version))}
			case *wire.MultiOp_SetData:
				st, c := s.setLocked(sess, o.SetData)
				r = &wire.OpResult{Code: int32(c), Stat: st}
			case *wire.MultiOp_Check:
				n := s.nodes[o.Check.Path]
				switch {
				case n == nil:
					r = &wire.OpResult{Code: int32(errcode.NoNode)}
				case o.Check.Version != -1 && o.Check.Version != n.stat.Version:
					r = &wire.OpResult{Code: int32(errcode.BadVersion)}
				default:
					r = &wire.OpResult{}
				}
			}
			if r.Code != 0 {
				failed = errcode.Code(r.Code)
				for _, prev := range res.Results {
					prev.Path, prev.Stat = "", nil
				}
				r.Path, r.Stat = "", nil
			}
			res.Results = append(res.Results, r)
		}
		if failed != errcode.Ok {
			s.nodes, s.events = saved, nil
		}
		return &wire.Response{Code: int32(failed), Result: &wire.Response_Multi{Multi: res}}
	case *wire.Request_Create:
		p, st, c := s.createLocked(sess, op.Create)
		if c != errcode.Ok {
			return &wire.Response{Code: int32(c)}
		}
		return &wire.Response{Result: &wire.Response_Create{Create: &wire.CreateResult{Path: p, Stat: st}}}
	case *wire.Request_Delete:
		return &wire.Response{Code: int32(s.deleteLocked(sess, op.Delete.Path, op.Delete.Version))}
	case *wire.Request_SetData:
		st, c := s.setLocked(sess, op.SetData)
		if c != errcode.Ok {
			return &wire.Response{Code: int32(c)}
		}
		return &wire.Response{Result: &wire.Response_Stat{Stat: &wire.StatResult{Stat: st}}}
	case *wire.Request_SetAcl:
		n := s.nodes[op.SetAcl.Path]
		switch {
		case n == nil:
			return &wire.Response{Code: int32(errcode.NoNode)}
		case op.SetAcl.Version != -1 && op.SetAcl.Version != n.stat.Aversion:
			return &wire.Response{Code: int32(errcode.BadVersion)}
		}
		n.acl = op.SetAcl.Acl
		n.stat.Aversion++
		st := cloneStat(n.stat)
		return &wire.Response{Result: &wire.Response_Stat{Stat: &wire.StatResult{Stat: st}}}
	}
	return &wire.Response{Code: int32(errcode.Unimplemented)}
}

func (s *fakeServer) createLocked(sess *fsession, c *wire.Create) (string, *wire.Stat, errcode.Code) {
	path := c.Path
	parentPath := zpath.Parent(strings.TrimSuffix(path, "/"))
	if strings.HasSuffix(path, "/") {
		parentPath = strings.TrimSuffix(path, "/")
	}
	if parentPath == "" {
		parentPath = "/"
	}
	parent := s.nodes[parentPath]
	if parent == nil && c.Parents {
		for _, p := range ancestors(parentPath) {
			if s.nodes[p] == nil {
				s.createLocked(sess, &wire.Create{Path: p, Acl: c.Acl})
			}
		}
		parent = s.nodes[parentPath]
	}
	switch {
	case parent == nil:
		return "", nil, errcode.NoNode
	case parent.stat.EphemeralOwner != 0:
		return "", nil, errcode.NoChildrenForEphemerals
	case !s.allowed(sess, parent, 4):
		return "", nil, errcode.NoAuth
	}
	mode := Mode(c.Mode)
	if mode.sequential() {
		path = zpath.Sequential(path, parent.stat.Cversion)
	}
	if s.nodes[path] != nil {
		return "", nil, errcode.NodeExists
	}
	n := &fnode{data: c.Data, acl: c.Acl, children: map[string]bool{}}
	z := int64(s.zxid)
	n.stat = &wire.Stat{Czxid: z, Mzxid: z, Pzxid: z, DataLength: int32(len(c.Data))}
	if mode == ModeEphemeral || mode == ModeEphemeralSequential {
		n.stat.EphemeralOwner = sess.id
	}
	s.nodes[path] = n
	parent.children[zpath.Base(path)] = true
	parent.stat.Cversion++
	parent.stat.NumChildren++
	parent.stat.Pzxid = z
	s.fireLocked(path, wire.EventType_EVENT_TYPE_NODE_CREATED, wire.WatchKind_WATCH_KIND_EXISTS, wire.WatchKind_WATCH_KIND_DATA)
	s.fireLocked(parentPath, wire.EventType_EVENT_TYPE_NODE_CHILDREN_CHANGED, wire.WatchKind_WATCH_KIND_CHILDREN)
	st := cloneStat(n.stat)
	return path, st, errcode.Ok
}

func ancestors(p string) []string {
	var out []string
	for ; p != "/"; p = zpath.Parent(p) {
		out = append([]string{p}, out...)
	}
	return out
}

func (s *fakeServer) deleteLocked(sess *fsession, path string, version int32) errcode.Code {
	n := s.nodes[path]
	switch {
	case path == "/":
		return errcode.BadArguments
	case n == nil:
		return errcode.NoNode
	case !s.allowed(sess, s.nodes[zpath.Parent(path)], 8):
		return errcode.NoAuth
	case version != -1 && version != n.stat.Version:
		return errcode.BadVersion
	case len(n.children) > 0:
		return errcode.NotEmpty
	}
	s.deleteNodeLocked(path)
	return errcode.Ok
}

func (s *fakeServer) deleteNodeLocked(path string) {
	parentPath := zpath.Parent(path)
	parent := s.nodes[parentPath]
	delete(s.nodes, path)
	delete(parent.children, zpath.Base(path))
	parent.stat.Cversion++
	parent.stat.NumChildren--
	parent.stat.Pzxid = int64(s.zxid)
	s.fireLocked(path, wire.EventType_EVENT_TYPE_NODE_DELETED, wire.WatchKind_WATCH_KIND_DATA, wire.WatchKind_WATCH_KIND_CHILDREN)
	s.fireLocked(parentPath, wire.EventType_EVENT_TYPE_NODE_CHILDREN_CHANGED, wire.WatchKind_WATCH_KIND_CHILDREN)
}

func (s *fakeServer) setLocked(sess *fsession, c *wire.SetData) (*wire.Stat, errcode.Code) {
	n := s.nodes[c.Path]
	switch {
	case n == nil:
		return nil, errcode.NoNode
	case !s.allowed(sess, n, 2):
		return nil, errcode.NoAuth
	case c.Version != -1 && c.Version != n.stat.Version:
		return nil, errcode.BadVersion
	}
	n.data = c.Data
	n.stat.Version++
	n.stat.Mzxid = int64(s.zxid)
	n.stat.DataLength = int32(len(c.Data))
	s.fireLocked(c.Path, wire.EventType_EVENT_TYPE_NODE_DATA_CHANGED, wire.WatchKind_WATCH_KIND_DATA)
	st := cloneStat(n.stat)
	return st, errcode.Ok
}

// digest is the digest scheme's hash of "user:password".
func digest(userPassword string) string {
	sum := sha1.Sum([]byte(userPassword))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func cloneStat(s *wire.Stat) *wire.Stat { return proto.Clone(s).(*wire.Stat) }
