package wire

// The generated wire.pb.go is committed. After changing wire.proto, read the
// rules at its top, then regenerate from this directory with
//
//	go generate
//
// which needs protoc and protoc-gen-go (the version matching
// google.golang.org/protobuf in go.mod) on PATH:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12

//go:generate protoc --go_out=. --go_opt=paths=source_relative wire.proto
