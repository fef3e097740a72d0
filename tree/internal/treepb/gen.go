// Package treepb holds the protobuf messages of the durable command format
// (command.proto) and the Go code generated from them. Only tree/codec.go
// uses it; everything else speaks tree.Command.
//
// The generated command.pb.go is committed. After changing command.proto,
// read the rules at its top, then regenerate from this directory with
//
//	go generate
//
// which needs protoc and protoc-gen-go (the version matching
// google.golang.org/protobuf in go.mod) on PATH:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
package treepb

//go:generate protoc --go_out=. --go_opt=paths=source_relative command.proto
