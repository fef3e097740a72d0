// Package ws is the client WebSocket endpoint of an arbor member: it
// accepts connections, negotiates the subprotocol, turns frames into
// wire.Requests and wire.ServerMessages into frames, and bounds what one
// connection may cost. It is transport only: it knows nothing of sessions,
// the tree or Raft. The server plugs in through Handler.
//
// # Mounting
//
// An Endpoint is an http.Handler. The server mounts it on its HTTP mux at
// a path of its choosing (DefaultPath, "/ws", unless configured otherwise),
// beside its other endpoints:
//
//	e := ws.New(ws.Config{Handler: h, Logger: log})
//	mux.Handle(ws.DefaultPath, e)
//	...
//	httpServer.Shutdown(ctx) // stops accepting; does not see hijacked connections
//	e.Shutdown(ctx)          // says GOODBYE to every connection and waits for them
//
// The http.Server should set ReadHeaderTimeout: the endpoint's
// HandshakeTimeout bounds only the writing of the upgrade response.
//
// # The handshake
//
// A client offers SubprotocolProto (binary frames) or SubprotocolJSON
// (text frames) or both in Sec-WebSocket-Protocol; the endpoint prefers
// the binary one. A request offering neither is refused with HTTP 400
// before the upgrade, as is one past Config.MaxConnections or during
// Shutdown (503). A browser's Origin must be the endpoint's own host or one
// of Config.AllowedOrigins (403 otherwise); a request without an Origin
// header (any non-browser client) is accepted. permessage-deflate is never
// negotiated.
//
// # One connection
//
// Each connection has one read goroutine and one write goroutine; gorilla's
// one-writer rule is kept by a lock that whoever writes holds.
//
// The read goroutine reads frames of at most Config.MaxFrameBytes, decodes
// each with the subprotocol's wire decoder and calls Session.Request, in
// frame order. It must not be blocked for long: while it waits, nothing
// else is read from that connection, pongs included. It ends the
// connection on
//   - a frame over the limit: close code 1009 (message too big);
//   - a malformed frame: a GOODBYE notice with code MarshallingError and
//     close code 1007 (invalid payload data);
//   - a frame of the other type (text on arbor.v1.proto, binary on
//     arbor.v1.json): a GOODBYE MarshallingError and close code 1003;
//   - silence: the write goroutine pings every Config.PingInterval, and a
//     peer from which nothing (not even a pong) arrives for
//     Config.ReadTimeout is closed.
//
// The write goroutine drains a bounded send queue (Config.SendQueueMessages
// messages and Config.SendQueueBytes bytes, counted as proto.Size).
// Conn.Send never blocks: a message that does not fit drops the connection
// ("slow consumer") with a GOODBYE notice of code Throttled, if it can
// still be written, and close code 1008 (policy violation), so one client
// that does not read cannot make the member hold an unbounded amount of
// memory. Conn.Write is for a goroutine of the connection's own (its
// request pipeline): when nothing is queued it writes the message itself,
// saving the hand-over to the write goroutine, and so blocks while the
// peer's socket is full. Every write has a deadline of Config.WriteTimeout;
// a write that misses it drops the connection as a slow consumer too.
//
// Conn.Close and Endpoint.Shutdown are graceful: the queued messages go
// out first, then a notice, then close code 1000 or 1001 (going away).
//
// Whatever ends a connection, Session.Closed is called exactly once, after
// the last Session.Request and after the write goroutine has exited, with
// the first cause (ErrSlowConsumer, ErrShutdown, ErrClosed, ErrPeerTimeout,
// an error wrapping wire.ErrMalformed, or the read error, such as a
// *websocket.CloseError when the peer closed).
package ws
