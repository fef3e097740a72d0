package wire_test

import (
	"fmt"

	"github.com/arbor-coord/arbor/internal/wire"
)

// A client's first frame opens a session; a write carries the session's
// write sequence numbers.
func Example() {
	connect := &wire.Request{Id: 1, Op: &wire.Request_Connect{Connect: &wire.Connect{
		ProtocolVersion: wire.ProtocolVersion, TimeoutMs: 10_000,
	}}}
	create := &wire.Request{Id: 2, Seq: 1, LowestUnackedSeq: 1, Op: &wire.Request_Create{Create: &wire.Create{
		Path: "/app", Data: []byte("hello"),
		Acl: []*wire.ACL{{Perms: 31, Scheme: "world", Id: "anyone"}},
	}}}
	for _, r := range []*wire.Request{connect, create} {
		frame, err := wire.EncodeRequest(r)
		if err != nil {
			fmt.Println(err)
			return
		}
		got, err := wire.DecodeRequest(frame)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("id %d, %d bytes, write %v\n", got.GetId(), len(frame), got.IsWrite())
	}

	// A write without its sequence number is refused by both ends.
	_, err := wire.EncodeRequest(&wire.Request{Id: 3, Op: &wire.Request_Delete{Delete: &wire.Delete{Path: "/app", Version: -1}}})
	fmt.Println(err)
	// Output:
	// id 1, 9 bytes, write false
	// id 2, 40 bytes, write true
	// wire: encode request: wire: malformed message: request 3: write without seq
}
