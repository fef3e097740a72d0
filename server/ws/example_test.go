package ws_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/server/ws"
)

// pingHandler answers every request with an Ok response.
type pingHandler struct{}

func (pingHandler) Open(c ws.Conn) ws.Session { return pingSession{c} }

type pingSession struct{ c ws.Conn }

func (s pingSession) Request(r *wire.Request) {
	_ = s.c.Send(&wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: &wire.Response{Id: r.GetId(), Zxid: 42}}})
}

func (pingSession) Closed(error) {}

func Example() {
	e := ws.New(ws.Config{Handler: pingHandler{}})
	mux := http.NewServeMux()
	mux.Handle(ws.DefaultPath, e)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer e.Shutdown(context.Background())

	d := websocket.Dialer{Subprotocols: []string{wire.SubprotocolProto}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+ws.DefaultPath, nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	req, _ := wire.EncodeRequest(&wire.Request{Id: 1, Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
	_ = c.WriteMessage(websocket.BinaryMessage, req)
	_, b, _ := c.ReadMessage()
	m, _ := wire.DecodeServerMessage(b)
	fmt.Println(c.Subprotocol(), m.GetResponse().GetId(), m.GetResponse().GetZxid())
	// Output: arbor.v1.proto 1 42
}
