package wire

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

// The fuzz targets check that the decoders never panic, that every error
// wraps ErrMalformed, and that whatever decodes re-encodes and decodes to
// an equal message (so the encoders and decoders agree on what is valid).
// They are seeded with the encodings of every sample, whole and split.

func FuzzDecodeRequest(f *testing.F) {
	for _, r := range sampleRequests() {
		b := mustEncode(EncodeRequest(r))
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := EncodeRequest(r)
		if err != nil {
			t.Fatalf("decoded %v but cannot encode it: %v", r, err)
		}
		r2, err := DecodeRequest(again)
		if err != nil {
			t.Fatalf("re-encoding %v does not decode: %v", r, err)
		}
		if !proto.Equal(r, r2) {
			t.Fatalf("re-encoding changed %v to %v", r, r2)
		}
	})
}

func FuzzDecodeServerMessage(f *testing.F) {
	for _, m := range sampleServerMessages() {
		b := mustEncode(EncodeServerMessage(m))
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeServerMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := EncodeServerMessage(m)
		if err != nil {
			t.Fatalf("decoded %v but cannot encode it: %v", m, err)
		}
		m2, err := DecodeServerMessage(again)
		if err != nil {
			t.Fatalf("re-encoding %v does not decode: %v", m, err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("re-encoding changed %v to %v", m, m2)
		}
	})
}

func FuzzDecodeRequestJSON(f *testing.F) {
	for _, r := range sampleRequests() {
		b := mustEncode(EncodeRequestJSON(r))
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte(`{"id": 7, "seq": 1, "lowestUnackedSeq": 1, "create": {"path": "/x", "data": "aGk=", "acl": [{"perms": 31, "scheme": "world", "id": "anyone"}], "mode": 1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequestJSON(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		j, err := EncodeRequestJSON(r)
		if err != nil {
			t.Fatalf("decoded %v but cannot encode it: %v", r, err)
		}
		r2, err := DecodeRequestJSON(j)
		if err != nil {
			t.Fatalf("re-encoding %v does not decode: %v", r, err)
		}
		if !proto.Equal(r, r2) {
			t.Fatalf("re-encoding changed %v to %v", r, r2)
		}
		// The same message must also be valid in the binary encoding.
		if _, err := EncodeRequest(r); err != nil {
			t.Fatalf("valid in JSON but not in binary: %v: %v", r, err)
		}
	})
}
