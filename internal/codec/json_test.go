package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJSONDecode(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  Envelope
	}{
		{"seed echo", `{"type":"Echo","data":{"Message":"你好"}}`,
			Envelope{Type: "Echo", Data: []byte(`{"Message":"你好"}`)}},
		{"all fields", `{"type":"Echo","id":"7","data":[1,2],"code":-3,"msg":"bad"}`,
			Envelope{Type: "Echo", ID: "7", Data: []byte(`[1,2]`), Code: -3, Msg: "bad"}},
		{"any order and spacing", " \n{ \"msg\" : \"m\" ,\t\"data\" : \"s\" , \"type\" : \"T\" }\r\n",
			Envelope{Type: "T", Data: []byte(`"s"`), Msg: "m"}},
		{"data kept raw", `{"type":"T","data":{ "a" : [1.50, "x}]\""] }}`,
			Envelope{Type: "T", Data: []byte(`{ "a" : [1.50, "x}]\""] }`)}},
		{"data scalar", `{"type":"T","data":12.5e3}`, Envelope{Type: "T", Data: []byte(`12.5e3`)}},
		{"data true", `{"type":"T","data":true}`, Envelope{Type: "T", Data: []byte(`true`)}},
		{"data null", `{"type":"T","data":null}`, Envelope{Type: "T", Data: []byte(`null`)}},
		{"data empty object", `{"type":"Ping","data":{}}`, Envelope{Type: "Ping", Data: []byte(`{}`)}},
		{"null fields", `{"type":"T","id":null,"code":null,"msg":null}`, Envelope{Type: "T"}},
		{"escaped strings", `{"type":"a\"b\\c\n\u00e9\ud83d\ude00","id":"\/"}`,
			Envelope{Type: "a\"b\\c\né😀", ID: "/"}},
		{"invalid UTF-8 replaced", "{\"type\":\"a\xffb\"}", Envelope{Type: "a\uFFFDb"}},
		{"escaped key", `{"typ\u0065":"T"}`, Envelope{Type: "T"}},
		{"keys are case-sensitive", `{"type":"T","ID":"x","Type":"U"}`, Envelope{Type: "T"}},
		{"unknown keys ignored", `{"x":{"type":1},"type":"T","y":[{}]}`, Envelope{Type: "T"}},
		{"last key wins", `{"type":"A","type":"B"}`, Envelope{Type: "B"}},
		{"code bounds", `{"type":"T","code":2147483647}`, Envelope{Type: "T", Code: 2147483647}},
		{"code min", `{"type":"T","code":-2147483648}`, Envelope{Type: "T", Code: -2147483648}},
		{"type of 128 bytes", `{"type":"` + strings.Repeat("x", 128) + `"}`, Envelope{Type: strings.Repeat("x", 128)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON.Decode([]byte(tt.frame))
			if err != nil {
				t.Fatalf("Decode(%s): %v", tt.frame, err)
			}
			if !envelopesEqual(got, tt.want) {
				t.Fatalf("Decode(%s) = %+v, want %+v", tt.frame, got, tt.want)
			}
		})
	}
}

func TestJSONDecodeMalformed(t *testing.T) {
	tests := []struct {
		name, frame, wantMsg string
	}{
		{"empty", ``, "invalid JSON"},
		{"invalid JSON", `{"type":"T",}`, "invalid JSON at byte 12"},
		{"truncated", `{"type":"T"`, "invalid JSON"},
		{"binary garbage", "\x00\x01\xff\xfe", "invalid JSON at byte 0"},
		{"msgpack frame", "\x81\xa4type\xa1T", "invalid JSON"},
		{"trailing value", `{"type":"T"} {}`, "invalid JSON"},
		{"array", `[{"type":"T"}]`, "must be a JSON object, got an array"},
		{"string", `"T"`, "got a string"},
		{"number", ` 42 `, "got a number"},
		{"null", `null`, "got null"},
		{"missing type", `{"id":"1"}`, "missing type"},
		{"empty type", `{"type":""}`, "missing type"},
		{"null type", `{"type":null}`, "missing type"},
		{"long type", `{"type":"` + strings.Repeat("x", 129) + `"}`, "longer than 128"},
		{"type number", `{"type":1}`, `"type" must be a string, got a number`},
		{"type object", `{"type":{}}`, `"type" must be a string, got an object`},
		{"id number", `{"type":"T","id":7}`, `"id" must be a string`},
		{"msg bool", `{"type":"T","msg":false}`, `"msg" must be a string, got a boolean`},
		{"code string", `{"type":"T","code":"1"}`, `"code" must be an integer, got a string`},
		{"code float", `{"type":"T","code":1.5}`, `"code" must be an integer, got 1.5`},
		{"code exponent", `{"type":"T","code":1e2}`, `"code" must be an integer`},
		{"code too big", `{"type":"T","code":2147483648}`, "out of the int32 range"},
		{"code too small", `{"type":"T","code":-2147483649}`, "out of the int32 range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := JSON.Decode([]byte(tt.frame))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Decode(%q) error = %v, want ErrMalformed saying %q", tt.frame, err, tt.wantMsg)
			}
		})
	}
}

func TestJSONEncode(t *testing.T) {
	tests := []struct {
		name string
		e    Envelope
		want string
	}{
		{"type only", Envelope{Type: "Ping"}, `{"type":"Ping"}`},
		{"empty data", Envelope{Type: "Ping", Data: []byte(`{}`)}, `{"type":"Ping","data":{}}`},
		{"field order", Envelope{Type: "T", ID: "1", Data: []byte(`[1, 2]`), Code: -7, Msg: "m"},
			`{"type":"T","id":"1","data":[1, 2],"code":-7,"msg":"m"}`},
		{"zero-length data left out", Envelope{Type: "T", Data: []byte{}}, `{"type":"T"}`},
		{"unicode kept", Envelope{Type: "你好", Msg: "é😀"}, `{"type":"你好","msg":"é😀"}`},
		{"quotes and backslash", Envelope{Type: `a"b\c/`}, `{"type":"a\"b\\c/"}`},
		{"control chars", Envelope{Type: "\n\r\t\b\f\x00\x1f\x7f"}, `{"type":"\n\r\t\b\f\u0000\u001f` + "\x7f" + `"}`},
		{"no HTML escaping", Envelope{Type: "<&>"}, `{"type":"<&>"}`},
		{"invalid UTF-8", Envelope{Type: "a\xffb\xc3", ID: "\xe2\x82"}, `{"type":"a\ufffdb\ufffd","id":"\ufffd\ufffd"}`},
		{"U+FFFD kept", Envelope{Type: "\uFFFD"}, "{\"type\":\"\uFFFD\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON.Encode(tt.e)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Encode(%+v) = %s, %v; want %s", tt.e, got, err, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("Encode(%+v) = %s: not valid JSON", tt.e, got)
			}
		})
	}
}

// TestJSONStringEscaping checks AppendJSONString against encoding/json on
// every byte value and some invalid UTF-8.
func TestJSONStringEscaping(t *testing.T) {
	var inputs []string
	for c := range 256 {
		inputs = append(inputs, "x"+string(rune(c))+"y", "x"+string([]byte{byte(c)})+"y")
	}
	inputs = append(inputs, "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xe2\x82", "\u2028")
	for _, s := range inputs {
		got := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		if err := json.Unmarshal(want, &wantBack); err != nil || back != wantBack {
			t.Fatalf("AppendJSONString(%q) reads back as %q, encoding/json's as %q", s, back, wantBack)
		}
	}
}

func TestJSONData(t *testing.T) {
	tests := []struct {
		name    string
		p       Payload
		want    []byte
		wantErr error
	}{
		{"empty", Payload{}, nil, nil},
		{"JSON as is", Payload{JSON: []byte(`{"a": 1}`)}, []byte(`{"a": 1}`), nil},
		{"JSON before bytes", Payload{JSON: []byte(`1`), Bytes: []byte("x")}, []byte(`1`), nil},
		{"JSON bytes", Payload{Bytes: []byte(` [true] `)}, []byte(` [true] `), nil},
		{"opaque bytes", Payload{Bytes: []byte{0xde, 0xad}}, nil, ErrNotJSON},
		{"empty bytes", Payload{Bytes: []byte{}}, nil, ErrNotJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON.Data(tt.p)
			if !errors.Is(err, tt.wantErr) || !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("Data(%+v) = %q, %v; want %q, %v", tt.p, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestJSONPayload(t *testing.T) {
	for _, data := range [][]byte{nil, []byte(`{"a":[1]}`)} {
		got, err := JSON.Payload(data)
		if err != nil || !bytes.Equal(got.JSON, data) || got.Bytes != nil || (got.JSON == nil) != (data == nil) {
			t.Fatalf("Payload(%q) = %+v, %v; want Payload{JSON: %q}", data, got, err, data)
		}
	}
}

// FuzzJSONDecode checks that Decode never panics, and that what it accepts
// encodes and decodes back to the same envelope, Data byte for byte.
func FuzzJSONDecode(f *testing.F) {
	f.Add([]byte(`{"type":"Echo","data":{"Message":"你好"}}`))
	f.Add([]byte(`{"type":"T","id":"1","data":[1,"\u00e9",null],"code":-1,"msg":"a\nb"}`))
	f.Add([]byte(`{"typ\u0065":"\ud83d","data":"x","x":{}}`))
	f.Add([]byte(`[{"type":"T"}]`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		e, err := JSON.Decode(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) error %v does not wrap ErrMalformed", frame, err)
			}
			return
		}
		again := encodeDecode(t, JSON, e)
		if !envelopesEqual(again, e) {
			t.Fatalf("Decode(%q) = %+v, after Encode and Decode %+v", frame, e, again)
		}
	})
}
