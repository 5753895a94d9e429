package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/proto"

	"github.com/hotpot-rt/hotpot/internal/codec/pb"
)

// msg is one hotpot message as a test client sees it, whatever its codec.
// Data is JSON text for json and msgpack clients (a msgpack value is
// converted to and from JSON by the test client, independently of the
// node's codecs) and the raw bytes for proto clients; nil when absent.
type msg struct {
	Type, ID string
	Data     []byte
	Code     int32
	Msg      string
}

// encodeMsg encodes m in the codec called codecName.
func encodeMsg(codecName string, m msg) ([]byte, error) {
	switch codecName {
	case "json":
		return json.Marshal(struct {
			Type string          `json:"type"`
			ID   string          `json:"id,omitempty"`
			Data json.RawMessage `json:"data,omitempty"`
			Code int32           `json:"code,omitempty"`
			Msg  string          `json:"msg,omitempty"`
		}{m.Type, m.ID, m.Data, m.Code, m.Msg})
	case "msgpack":
		env := map[string]any{"type": m.Type}
		if m.ID != "" {
			env["id"] = m.ID
		}
		if m.Data != nil {
			v, err := nativeOf(m.Data)
			if err != nil {
				return nil, err
			}
			env["data"] = v
		}
		if m.Code != 0 {
			env["code"], env["msg"] = m.Code, m.Msg
		}
		return msgpack.Marshal(env)
	case "proto":
		return proto.Marshal(&pb.Envelope{Type: m.Type, Id: m.ID, Data: m.Data, Code: m.Code, Msg: m.Msg})
	}
	return nil, fmt.Errorf("unknown codec %q", codecName)
}

// decodeMsg decodes a frame of the codec called codecName.
func decodeMsg(codecName string, frame []byte) (msg, error) {
	switch codecName {
	case "json":
		var env struct {
			Type string          `json:"type"`
			ID   string          `json:"id"`
			Data json.RawMessage `json:"data"`
			Code int32           `json:"code"`
			Msg  string          `json:"msg"`
		}
		err := json.Unmarshal(frame, &env)
		return msg{env.Type, env.ID, env.Data, env.Code, env.Msg}, err
	case "msgpack":
		var env struct {
			Type string             `msgpack:"type"`
			ID   string             `msgpack:"id"`
			Data msgpack.RawMessage `msgpack:"data"`
			Code int32              `msgpack:"code"`
			Msg  string             `msgpack:"msg"`
		}
		if err := msgpack.Unmarshal(frame, &env); err != nil {
			return msg{}, err
		}
		m := msg{Type: env.Type, ID: env.ID, Code: env.Code, Msg: env.Msg}
		if len(env.Data) > 0 {
			var v any
			if err := msgpack.Unmarshal(env.Data, &v); err != nil {
				return msg{}, err
			}
			data, err := json.Marshal(v)
			if err != nil {
				return msg{}, err
			}
			m.Data = data
		}
		return m, nil
	case "proto":
		var env pb.Envelope
		err := proto.Unmarshal(frame, &env)
		return msg{env.Type, env.Id, env.Data, env.Code, env.Msg}, err
	}
	return msg{}, fmt.Errorf("unknown codec %q", codecName)
}

// nativeOf turns JSON into Go values msgpack encodes natively: integers
// as int64 (not float64, as encoding/json would have them).
func nativeOf(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case json.Number:
			if i, err := v.Int64(); err == nil {
				return i
			}
			f, _ := v.Float64()
			return f
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			for k := range v {
				v[k] = walk(v[k])
			}
		}
		return v
	}
	return walk(v), nil
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t testing.TB, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("not JSON: %q: %v", got, err)
		return false
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("not JSON: %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}
