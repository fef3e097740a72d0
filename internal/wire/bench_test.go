package wire

import "testing"

// The hot path: a 100-byte create and its response.

func benchCreate() (*Request, *ServerMessage) {
	return sampleRequests()["create"], sampleServerMessages()["create"]
}

func BenchmarkEncodeCreateRequest(b *testing.B) {
	r, _ := benchCreate()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCreateRequest(b *testing.B) {
	r, _ := benchCreate()
	frame := mustEncode(EncodeRequest(r))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequest(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeCreateResponse(b *testing.B) {
	_, m := benchCreate()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeServerMessage(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCreateResponse(b *testing.B) {
	_, m := benchCreate()
	frame := mustEncode(EncodeServerMessage(m))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeServerMessage(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCreateRequestJSON(b *testing.B) {
	r, _ := benchCreate()
	frame := mustEncode(EncodeRequestJSON(r))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequestJSON(frame); err != nil {
			b.Fatal(err)
		}
	}
}
