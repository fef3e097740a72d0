package ws_test

import (
	"testing"

	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/server/ws"
)

// request100 is a set_data request whose binary encoding is 100 bytes.
func request100(tb testing.TB) *wire.Request {
	for n := 0; n < 100; n++ {
		r := &wire.Request{Id: 1, Seq: 1, LowestUnackedSeq: 1,
			Op: &wire.Request_SetData{SetData: &wire.SetData{Path: "/bench/node", Data: make([]byte, n), Version: -1}}}
		b, err := wire.EncodeRequest(r)
		if err != nil {
			tb.Fatal(err)
		}
		if len(b) == 100 {
			return r
		}
	}
	tb.Fatal("no 100-byte request")
	return nil
}

// BenchmarkRoundTrip is one request and its response at a time over one
// connection, through the echo handler: the endpoint's latency.
func BenchmarkRoundTrip(b *testing.B) {
	for _, proto := range []string{wire.SubprotocolProto, wire.SubprotocolJSON} {
		b.Run(proto, func(b *testing.B) {
			hs := start(b, ws.Config{}, true)
			c := hs.dial(b, proto)
			r := request100(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r.Id = uint64(i + 1)
				c.send(r)
				if m := c.mustRecv(); m.GetResponse().GetId() != r.Id {
					b.Fatalf("response %v", m)
				}
			}
		})
	}
}

// BenchmarkRoundTripParallel is many connections, each with one request
// at a time (8 connections per GOMAXPROCS; vary it with -cpu): the
// endpoint's throughput.
func BenchmarkRoundTripParallel(b *testing.B) {
	hs := start(b, ws.Config{}, true)
	r0 := request100(b)
	b.SetParallelism(8) // 8 connections per P
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := hs.dial(b, wire.SubprotocolProto)
		r := &wire.Request{Id: 1, Seq: r0.Seq, LowestUnackedSeq: r0.LowestUnackedSeq, Op: r0.Op}
		for pb.Next() {
			r.Id++
			c.send(r)
			if m := c.mustRecv(); m.GetResponse().GetId() != r.Id {
				b.Errorf("response %v", m)
				return
			}
		}
	})
}
