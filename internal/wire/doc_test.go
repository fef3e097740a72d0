package wire

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// TestProtocolDocInSync checks that docs/PROTOCOL.md documents every
// message, field, enum value and error code, with the right numbers, and
// that its JSON examples decode.
func TestProtocolDocInSync(t *testing.T) {
	b, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	// section returns the text of "### name" up to the next heading.
	section := func(name string) string {
		i := strings.Index(doc, "\n### "+name+"\n")
		if i < 0 {
			return ""
		}
		s := doc[i+len(name)+5:]
		if j := strings.Index(s, "\n#"); j >= 0 {
			s = s[:j]
		}
		return s
	}
	mds := File_wire_proto.Messages()
	for i := 0; i < mds.Len(); i++ {
		md := mds.Get(i)
		s := section(string(md.Name()))
		if s == "" {
			t.Errorf("PROTOCOL.md has no section for message %s", md.Name())
			continue
		}
		for j := 0; j < md.Fields().Len(); j++ {
			fd := md.Fields().Get(j)
			if row := fmt.Sprintf("| %d | `%s` |", fd.Number(), fd.Name()); !strings.Contains(s, row) {
				t.Errorf("PROTOCOL.md, %s: no row %q", md.Name(), row)
			}
		}
	}
	eds := File_wire_proto.Enums()
	for i := 0; i < eds.Len(); i++ {
		ed := eds.Get(i)
		s := section(string(ed.Name()))
		if s == "" {
			t.Errorf("PROTOCOL.md has no section for enum %s", ed.Name())
			continue
		}
		for j := 0; j < ed.Values().Len(); j++ {
			v := ed.Values().Get(j)
			if row := fmt.Sprintf("| %d | `%s` |", v.Number(), v.Name()); !strings.Contains(s, row) {
				t.Errorf("PROTOCOL.md, %s: no row %q", ed.Name(), row)
			}
		}
	}
	for _, c := range errcode.All() {
		if row := fmt.Sprintf("| %d | `%s` |", int32(c), c.Name()); !strings.Contains(doc, row) {
			t.Errorf("PROTOCOL.md: no error code row %q", row)
		}
	}
	for _, want := range []string{SubprotocolProto, SubprotocolJSON, "4 MiB", fmt.Sprint(MaxFrameBytes), "262,144"} {
		if !strings.Contains(doc, want) {
			t.Errorf("PROTOCOL.md does not mention %q", want)
		}
	}
	if MaxFrameElements != 262144 {
		t.Errorf("MaxFrameElements changed: update PROTOCOL.md")
	}
	// The JSON example: a request line, then a server message line.
	i := strings.Index(doc, "```json\n")
	if i < 0 {
		t.Fatal("PROTOCOL.md has no JSON example")
	}
	lines := strings.Split(doc[i+8:i+8+strings.Index(doc[i+8:], "```")], "\n")
	if _, err := DecodeRequestJSON([]byte(lines[0])); err != nil {
		t.Errorf("PROTOCOL.md JSON request example: %v", err)
	}
	if _, err := DecodeServerMessageJSON([]byte(lines[1])); err != nil {
		t.Errorf("PROTOCOL.md JSON response example: %v", err)
	}
}
