package wire

import "fmt"

// The structural checks shared by the encoders and the decoders: what the
// schema cannot say (an op is required, enums are closed, seq goes with
// writes). Semantic checks (paths, ACLs, versions, TTLs, limits of the
// tree) are the server's.

func validateRequest(r *Request) error {
	if err := checkRequest(r); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func validateServerMessage(m *ServerMessage) error {
	if err := checkServerMessage(m); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func checkRequest(r *Request) error {
	if r == nil {
		return fmt.Errorf("nil request")
	}
	if r.Id == 0 {
		return fmt.Errorf("request id 0")
	}
	if r.Op == nil {
		return fmt.Errorf("request %d: no op", r.Id)
	}
	if r.IsWrite() {
		if r.Seq == 0 {
			return fmt.Errorf("request %d: write without seq", r.Id)
		}
		if r.LowestUnackedSeq == 0 || r.LowestUnackedSeq > r.Seq {
			return fmt.Errorf("request %d: lowest_unacked_seq %d not in [1, seq %d]", r.Id, r.LowestUnackedSeq, r.Seq)
		}
	} else if r.Seq != 0 || r.LowestUnackedSeq != 0 {
		return fmt.Errorf("request %d: seq or lowest_unacked_seq on a request that is not a write", r.Id)
	}
	var err error
	switch op := r.Op.(type) {
	case *Request_Create:
		err = validateCreate(op.Create)
	case *Request_Delete:
		err = present(op.Delete != nil, "delete")
	case *Request_SetData:
		err = present(op.SetData != nil, "set_data")
	case *Request_GetData:
		err = present(op.GetData != nil, "get_data")
	case *Request_Exists:
		err = present(op.Exists != nil, "exists")
	case *Request_GetChildren:
		err = present(op.GetChildren != nil, "get_children")
	case *Request_Ping:
		err = present(op.Ping != nil, "ping")
	case *Request_Multi:
		err = validateMulti(op.Multi)
	case *Request_Check:
		err = present(op.Check != nil, "check")
	case *Request_Connect:
		err = validateConnect(op.Connect)
	case *Request_Sync:
		err = present(op.Sync != nil, "sync")
	case *Request_ReadMulti:
		err = validateReadMulti(op.ReadMulti)
	case *Request_SetAcl:
		err = validateACLs(op.SetAcl.GetAcl(), op.SetAcl != nil, "set_acl")
	case *Request_GetAcl:
		err = present(op.GetAcl != nil, "get_acl")
	case *Request_CountDescendants:
		err = present(op.CountDescendants != nil, "count_descendants")
	case *Request_GetEphemerals:
		err = present(op.GetEphemerals != nil, "get_ephemerals")
	case *Request_AddAuth:
		err = present(op.AddAuth != nil, "add_auth")
	case *Request_AddWatch:
		err = validateAddWatch(op.AddWatch)
	case *Request_RemoveWatches:
		err = validateRemoveWatches(op.RemoveWatches)
	case *Request_CloseSession:
		err = present(op.CloseSession != nil, "close_session")
	default:
		err = fmt.Errorf("unknown op %T", op)
	}
	if err != nil {
		return fmt.Errorf("request %d: %w", r.Id, err)
	}
	return nil
}

func present(ok bool, what string) error {
	if !ok {
		return fmt.Errorf("nil %s", what)
	}
	return nil
}

func validateCreate(c *Create) error {
	if c == nil {
		return fmt.Errorf("nil create")
	}
	if _, ok := CreateMode_name[int32(c.Mode)]; !ok {
		return fmt.Errorf("create: unknown mode %d", c.Mode)
	}
	return validateACLs(c.Acl, true, "create")
}

func validateACLs(acl []*ACL, ok bool, what string) error {
	if !ok {
		return fmt.Errorf("nil %s", what)
	}
	for i, a := range acl {
		if a == nil {
			return fmt.Errorf("%s: nil acl entry %d", what, i)
		}
	}
	return nil
}

func validateMulti(m *Multi) error {
	if m == nil {
		return fmt.Errorf("nil multi")
	}
	for i, op := range m.Ops {
		var err error
		switch o := op.GetOp().(type) {
		case *MultiOp_Create:
			err = validateCreate(o.Create)
		case *MultiOp_Delete:
			err = present(o.Delete != nil, "delete")
		case *MultiOp_SetData:
			err = present(o.SetData != nil, "set_data")
		case *MultiOp_Check:
			err = present(o.Check != nil, "check")
		case nil:
			err = fmt.Errorf("no op")
		default:
			err = fmt.Errorf("unknown op %T", o)
		}
		if err != nil {
			return fmt.Errorf("multi op %d: %w", i, err)
		}
	}
	return nil
}

func validateConnect(c *Connect) error {
	if c == nil {
		return fmt.Errorf("nil connect")
	}
	if c.ProtocolVersion == 0 {
		return fmt.Errorf("connect: protocol_version 0")
	}
	for i, a := range c.Auth {
		if a == nil {
			return fmt.Errorf("connect: nil auth %d", i)
		}
	}
	for i, w := range c.Watches {
		if w == nil {
			return fmt.Errorf("connect: nil watch %d", i)
		}
		if !validWatchKind(w.Kind) {
			return fmt.Errorf("connect: watch %d: bad kind %d", i, w.Kind)
		}
	}
	return nil
}

func validateReadMulti(m *ReadMulti) error {
	if m == nil {
		return fmt.Errorf("nil read_multi")
	}
	for i, op := range m.Ops {
		if op == nil {
			return fmt.Errorf("read_multi: nil op %d", i)
		}
		if op.Kind == ReadKind_READ_KIND_UNSPECIFIED || ReadKind_name[int32(op.Kind)] == "" {
			return fmt.Errorf("read_multi: op %d: bad kind %d", i, op.Kind)
		}
	}
	return nil
}

func validateAddWatch(w *AddWatch) error {
	if w == nil {
		return fmt.Errorf("nil add_watch")
	}
	if w.Kind != WatchKind_WATCH_KIND_PERSISTENT && w.Kind != WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE {
		return fmt.Errorf("add_watch: kind %d is not persistent", w.Kind)
	}
	return nil
}

func validateRemoveWatches(w *RemoveWatches) error {
	if w == nil {
		return fmt.Errorf("nil remove_watches")
	}
	for i, k := range w.Kinds {
		if !validWatchKind(k) {
			return fmt.Errorf("remove_watches: kind %d: bad kind %d", i, k)
		}
	}
	return nil
}

func validWatchKind(k WatchKind) bool {
	return k != WatchKind_WATCH_KIND_UNSPECIFIED && WatchKind_name[int32(k)] != ""
}

func checkServerMessage(m *ServerMessage) error {
	if m == nil {
		return fmt.Errorf("nil server message")
	}
	switch k := m.Kind.(type) {
	case *ServerMessage_Response:
		return validateResponse(k.Response)
	case *ServerMessage_Event:
		return validateEvent(k.Event)
	case *ServerMessage_Notice:
		n := k.Notice
		if n == nil {
			return fmt.Errorf("nil notice")
		}
		if n.Kind == NoticeKind_NOTICE_KIND_UNSPECIFIED || NoticeKind_name[int32(n.Kind)] == "" {
			return fmt.Errorf("notice: bad kind %d", n.Kind)
		}
		return nil
	case nil:
		return fmt.Errorf("server message: no kind")
	default:
		return fmt.Errorf("server message: unknown kind %T", k)
	}
}

func validateResponse(r *Response) error {
	if r == nil {
		return fmt.Errorf("nil response")
	}
	if r.Id == 0 && r.Code == 0 {
		return fmt.Errorf("response id 0 with code Ok")
	}
	var ok bool
	switch res := r.Result.(type) {
	case nil:
		return nil
	case *Response_Create:
		ok = res.Create != nil
	case *Response_Stat:
		ok = res.Stat != nil
	case *Response_GetData:
		ok = res.GetData != nil
	case *Response_GetChildren:
		ok = res.GetChildren != nil
	case *Response_Multi:
		if ok = res.Multi != nil; ok {
			for i, o := range res.Multi.Results {
				if o == nil {
					return fmt.Errorf("response %d: multi: nil result %d", r.Id, i)
				}
			}
		}
	case *Response_Connect:
		ok = res.Connect != nil
	case *Response_ReadMulti:
		if ok = res.ReadMulti != nil; ok {
			for i, o := range res.ReadMulti.Results {
				if o == nil {
					return fmt.Errorf("response %d: read_multi: nil result %d", r.Id, i)
				}
			}
		}
	case *Response_GetAcl:
		if ok = res.GetAcl != nil; ok {
			if err := validateACLs(res.GetAcl.Acl, true, "get_acl"); err != nil {
				return fmt.Errorf("response %d: %w", r.Id, err)
			}
		}
	case *Response_CountDescendants:
		ok = res.CountDescendants != nil
	case *Response_GetEphemerals:
		ok = res.GetEphemerals != nil
	default:
		return fmt.Errorf("response %d: unknown result %T", r.Id, res)
	}
	if !ok {
		return fmt.Errorf("response %d: nil result", r.Id)
	}
	return nil
}

func validateEvent(e *Event) error {
	if e == nil {
		return fmt.Errorf("nil event")
	}
	if e.Type == EventType_EVENT_TYPE_UNSPECIFIED || EventType_name[int32(e.Type)] == "" {
		return fmt.Errorf("event: bad type %d", e.Type)
	}
	if len(e.Kinds) == 0 {
		return fmt.Errorf("event: no watch kinds")
	}
	for i, k := range e.Kinds {
		if !validWatchKind(k) {
			return fmt.Errorf("event: kind %d: bad kind %d", i, k)
		}
	}
	return nil
}
