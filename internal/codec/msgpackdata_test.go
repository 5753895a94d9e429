package codec

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestMsgPackData(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"null", `null`, "\xc0"},
		{"bools", `[true,false]`, "\x92\xc3\xc2"},
		{"small ints", `[0,-0,127,-32]`, "\x94\x00\x00\x7f\xe0"},
		{"int64", `-9223372036854775808`, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"},
		{"uint64", `18446744073709551615`, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"},
		{"beyond uint64", `18446744073709551616`, "\xcb\x43\xf0\x00\x00\x00\x00\x00\x00"},
		{"float", `1.5`, "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"},
		{"integral float", `1e0`, "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"},
		{"string", `"a\u00e9\n"`, "\xa4a\u00e9\n"},
		{"object in order", ` { "b" : 1 , "a" : {} } `, "\x82\xa1b\x01\xa1a\x80"},
		{"empty array", `[]`, "\x90"},
		{"seed", `{"Message":"你好"}`, "\x81\xa7Message\xa6你好"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []Payload{{JSON: []byte(tt.in)}, {Bytes: []byte(tt.in)}} {
				got, err := MsgPack.Data(p)
				if err != nil || string(got) != tt.want {
					t.Fatalf("Data(%+v) = %q, %v; want %q", p, got, err, tt.want)
				}
			}
		})
	}
}

func TestMsgPackDataErrors(t *testing.T) {
	tests := []struct {
		name    string
		p       Payload
		wantErr error
		wantMsg string
	}{
		{"opaque bytes", Payload{Bytes: []byte{0x81, 0xa1}}, ErrNotJSON, "not valid JSON"},
		{"empty bytes", Payload{Bytes: []byte{}}, ErrNotJSON, "not valid JSON"},
		{"invalid JSON", Payload{JSON: []byte(`{"a":}`)}, ErrMalformed, "invalid JSON at byte 5"},
		{"two values", Payload{JSON: []byte(`1 2`)}, ErrMalformed, "invalid JSON"},
		{"huge number", Payload{JSON: []byte(`[1e400]`)}, ErrMalformed, "number 1e400 is out of the float64 range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MsgPack.Data(tt.p)
			if got != nil || !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Data(%+v) = %q, %v; want %v saying %q", tt.p, got, err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	if got, err := MsgPack.Data(Payload{}); got != nil || err != nil {
		t.Fatalf("Data(empty payload) = %q, %v; want nil, nil", got, err)
	}
}

func TestMsgPackPayload(t *testing.T) {
	tests := []struct {
		name string
		in   any // marshaled by the msgpack library, unless []byte
		want string
	}{
		{"nil", nil, `null`},
		{"bools", []bool{true, false}, `[true,false]`},
		{"ints", []any{int8(-5), uint16(300), int64(-1 << 40), uint64(1 << 63)}, `[-5,300,-1099511627776,9223372036854775808]`},
		{"floats", []any{1.5, 3.0, 1e21, 1e-7, float32(0.1)}, `[1.5,3,1e+21,1e-7,0.1]`},
		{"string", "a\"\n<é>\x00", `"a\"\n<é>\u0000"`},
		{"binary", []byte("\xc4\x03\x00\x01\xff"), `"AAH/"`},
		{"empty map", []byte("\x80"), `{}`},
		{"map in order", []byte("\x83\xa1b\x01\xa1a\x90\xa1c\xc0"), `{"b":1,"a":[],"c":null}`},
		{"non-string keys", []byte("\x85\x01\xa1i\xc3\xa1b\xc0\xa1n\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xa1f\xc4\x01k\xa1s"),
			`{"1":"i","true":"b","<nil>":"n","1.5":"f","k":"s"}`},
		{"seed", []byte("\x81\xa7Message\xa6你好"), `{"Message":"你好"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, ok := tt.in.([]byte)
			if !ok {
				data = mustMsgpack(t, tt.in)
			}
			got, err := MsgPack.Payload(data)
			if err != nil || got.Bytes != nil {
				t.Fatalf("Payload(%q) = %+v, %v", data, got, err)
			}
			if string(got.JSON) != tt.want || !json.Valid(got.JSON) {
				t.Fatalf("Payload(%q) = %s, want %s", data, got.JSON, tt.want)
			}
		})
	}
	if got, err := MsgPack.Payload(nil); err != nil || got.JSON != nil || got.Bytes != nil {
		t.Fatalf("Payload(nil) = %+v, %v; want the empty payload", got, err)
	}
}

func TestMsgPackPayloadErrors(t *testing.T) {
	deep := strings.Repeat("\x91", maxDataDepth+1) + "\xc0"
	tests := []struct {
		name, data, wantMsg string
	}{
		{"truncated", "\x92\x01", "ends early"},
		{"trailing", "\x01\x02", "1 bytes after the data value"},
		{"never-used byte", "\x91\xc1", "0xc1"},
		{"ext", "\x91\xd6\xff\x00\x00\x00\x01", "extension type -1 has no JSON form"},
		{"NaN", "\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01", "NaN has no JSON form"},
		{"infinity", "\xca\xff\x80\x00\x00", "-Inf has no JSON form"},
		{"array key", "\x81\x90\x01", "a map key is an array"},
		{"ext key", "\x81\xd4\x01\x00\x01", "a map key is an extension"},
		{"too deep", deep, "nested deeper than 9999 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MsgPack.Payload([]byte(tt.data))
			if got.JSON != nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Payload(%q) = %+v, %v; want ErrMalformed saying %q", tt.data, got, err, tt.wantMsg)
			}
		})
	}
}

// TestMsgPackPayloadDepth checks that the deepest data Payload writes is
// still read by the JSON codec.
func TestMsgPackPayloadDepth(t *testing.T) {
	data := strings.Repeat("\x91", maxDataDepth) + "\xc0"
	got, err := MsgPack.Payload([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := JSON.Decode([]byte(`{"type":"T","data":` + string(got.JSON) + `}`)); err != nil {
		t.Fatalf("JSON codec refuses the deepest data: %v", err)
	}
}

// TestMsgPackDataPayload checks that JSON survives msgpack and back, up to
// spacing and number formatting.
func TestMsgPackDataPayload(t *testing.T) {
	for _, in := range []string{`{"a":[1,-2,{"b":null}],"c":"你好","d":true,"e":1.25,"z":{}}`, `[]`, `"x"`, `-7`} {
		data, err := MsgPack.Data(Payload{JSON: []byte(in)})
		if err != nil {
			t.Fatal(err)
		}
		if err := msgpack.Unmarshal(data, new(any)); err != nil {
			t.Fatalf("library cannot read Data(%s) = %q: %v", in, data, err)
		}
		got, err := MsgPack.Payload(data)
		if err != nil || string(got.JSON) != in {
			t.Fatalf("Payload(Data(%s)) = %s, %v", in, got.JSON, err)
		}
	}
}

// FuzzMsgPackPayload checks that Payload never panics, and that the JSON it
// writes is valid and transcodes back to msgpack.
func FuzzMsgPackPayload(f *testing.F) {
	f.Add([]byte("\x81\xa7Message\xa6你好"))
	f.Add([]byte("\x93\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xc4\x01z\x81\x01\xc0"))
	f.Add([]byte("\x91\xd6\xff\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := MsgPack.Payload(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Payload(%q) error %v does not wrap ErrMalformed", data, err)
			}
			return
		}
		if len(data) > 0 && !json.Valid(p.JSON) {
			t.Fatalf("Payload(%q) = %q: not valid JSON", data, p.JSON)
		}
		if _, err := MsgPack.Data(p); err != nil {
			t.Fatalf("Data(Payload(%q)) = Data(%s): %v", data, p.JSON, err)
		}
	})
}

// FuzzMsgPackData gives MsgPack.Data the JSON a REST caller may send: it
// never panics, and what it makes reads back as the same JSON value.
func FuzzMsgPackData(f *testing.F) {
	for _, seed := range []string{`{"Message":"你好"}`, `[1,2.5,-3,1e300,null,true]`, `"\u00e9\ud83d\ude00"`, `1e400`, `{"a":{"b":[{}]}}`, `12345678901234567890`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // the REST edge refuses invalid JSON before
		}
		native, err := MsgPack.Data(Payload{JSON: data})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Data(%s) error %v does not wrap ErrMalformed", data, err)
			}
			return
		}
		back, err := MsgPack.Payload(native)
		if err != nil {
			t.Fatalf("Payload(Data(%s)): %v", data, err)
		}
		var want, got any
		json.Unmarshal(data, &want)
		json.Unmarshal(back.JSON, &got)
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("Data then Payload turned %s into %s", data, back.JSON)
		}
	})
}
