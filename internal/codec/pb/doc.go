// Package pb holds the generated Protobuf envelope used by the proto codec.
// envelope.pb.go is generated from envelope.proto; never edit it by hand.
package pb

//go:generate protoc --go_out=. --go_opt=paths=source_relative envelope.proto
