package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// mustMsgpack marshals v with the msgpack library.
func mustMsgpack(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMsgPackDecode(t *testing.T) {
	long := strings.Repeat("x", MaxTypeBytes)
	tests := []struct {
		name  string
		frame []byte
		want  Envelope
	}{
		{"fixmap", []byte("\x82\xa4type\xa4Echo\xa4data\x81\xa7Message\xa6你好"),
			Envelope{Type: "Echo", Data: []byte("\x81\xa7Message\xa6你好")}},
		{"library map", mustMsgpack(t, map[string]any{"type": "T", "id": "7", "data": []int{1, 2}, "code": -3, "msg": "bad"}),
			Envelope{Type: "T", ID: "7", Data: []byte{0x92, 1, 2}, Code: -3, Msg: "bad"}},
		{"map16 and str8", []byte("\xde\x00\x01\xa4type\xd9\x80" + long), Envelope{Type: long}},
		{"map32 and str16", []byte("\xdf\x00\x00\x00\x01\xa4type\xda\x00\x01T"), Envelope{Type: "T"}},
		{"str32 key", []byte("\x81\xdb\x00\x00\x00\x04type\xa1T"), Envelope{Type: "T"}},
		{"data nil", []byte("\x82\xa4type\xa1T\xa4data\xc0"), Envelope{Type: "T", Data: []byte{0xc0}}},
		{"data empty map", []byte("\x82\xa4type\xa1T\xa4data\x80"), Envelope{Type: "T", Data: []byte{0x80}}},
		{"data binary and ext", []byte("\x82\xa4type\xa1T\xa4data\x92\xc4\x01z\xd6\xff\x00\x00\x00\x01"),
			Envelope{Type: "T", Data: []byte("\x92\xc4\x01z\xd6\xff\x00\x00\x00\x01")}},
		{"nil fields", []byte("\x84\xa4type\xa1T\xa2id\xc0\xa4code\xc0\xa3msg\xc0"), Envelope{Type: "T"}},
		{"unknown keys skipped", []byte("\x83\xa1x\x91\x81\xa4type\x01\xa4type\xa1T\xa1y\xc7\x02\x05ab"), Envelope{Type: "T"}},
		{"last key wins", []byte("\x82\xa4type\xa1A\xa4type\xa1B"), Envelope{Type: "B"}},
		{"code uint8", []byte("\x82\xa4type\xa1T\xa4code\xcc\xc8"), Envelope{Type: "T", Code: 200}},
		{"code uint64", []byte("\x82\xa4type\xa1T\xa4code\xcf\x00\x00\x00\x00\x7f\xff\xff\xff"), Envelope{Type: "T", Code: 2147483647}},
		{"code int16", []byte("\x82\xa4type\xa1T\xa4code\xd1\xff\x00"), Envelope{Type: "T", Code: -256}},
		{"code int64", []byte("\x82\xa4type\xa1T\xa4code\xd3\xff\xff\xff\xff\x80\x00\x00\x00"), Envelope{Type: "T", Code: -2147483648}},
		{"code negative fixint", []byte("\x82\xa4type\xa1T\xa4code\xe0"), Envelope{Type: "T", Code: -32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MsgPack.Decode(tt.frame)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.frame, err)
			}
			if !envelopesEqual(got, tt.want) {
				t.Fatalf("Decode(%q) = %+v, want %+v", tt.frame, got, tt.want)
			}
		})
	}
}

func TestMsgPackDecodeMalformed(t *testing.T) {
	tests := []struct {
		name, frame, wantMsg string
	}{
		{"empty", "", "ends early"},
		{"JSON text", `{"type":"T"}`, "must be a msgpack map, got an integer"},
		{"array", "\x91\xa1T", "got an array"},
		{"string", "\xa4type", "got a string"},
		{"nil", "\xc0", "got nil"},
		{"never-used byte", "\xc1", "never-used msgpack byte 0xc1"},
		{"truncated map", "\x82\xa4type\xa1T", "ends early"},
		{"truncated key", "\x81\xa4ty", "ends early"},
		{"truncated str8", "\x81\xa4type\xd9", "ends early"},
		{"truncated data", "\x82\xa4type\xa1T\xa4data\x92\x01", "ends early"},
		{"huge array", "\x82\xa4type\xa1T\xa4data\xdd\xff\xff\xff\xff\x01", "4294967295 more values announced"},
		{"huge bin", "\x82\xa4type\xa1T\xa4data\xc6\xff\xff\xff\xff", "ends early"},
		{"invalid byte in data", "\x82\xa4type\xa1T\xa4data\x91\xc1", "never-used msgpack byte 0xc1 at byte 14"},
		{"trailing bytes", "\x81\xa4type\xa1T\x00", "1 bytes after the msgpack map"},
		{"integer key", "\x82\xa4type\xa1T\x01\x02", "keys must be strings, got an integer"},
		{"missing type", "\x81\xa2id\xa11", "missing type"},
		{"empty map", "\x80", "missing type"},
		{"empty type", "\x81\xa4type\xa0", "missing type"},
		{"long type", "\x81\xa4type\xd9\x81" + strings.Repeat("x", 129), "longer than 128"},
		{"type integer", "\x81\xa4type\x01", `"type" must be a string, got an integer`},
		{"type binary", "\x81\xa4type\xc4\x01T", `"type" must be a string, got binary data`},
		{"id map", "\x82\xa4type\xa1T\xa2id\x80", `"id" must be a string, got a map`},
		{"msg bool", "\x82\xa4type\xa1T\xa3msg\xc3", `"msg" must be a string, got a boolean`},
		{"type invalid UTF-8", "\x81\xa4type\xa2\xff\xfe", `"type" is not valid UTF-8`},
		{"code string", "\x82\xa4type\xa1T\xa4code\xa11", `"code" must be an integer, got a string`},
		{"code float", "\x82\xa4type\xa1T\xa4code\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", `"code" must be an integer, got a float`},
		{"code too big", "\x82\xa4type\xa1T\xa4code\xce\x80\x00\x00\x00", "out of the int32 range"},
		{"code uint64 max", "\x82\xa4type\xa1T\xa4code\xcf\xff\xff\xff\xff\xff\xff\xff\xff", "out of the int32 range"},
		{"code too small", "\x82\xa4type\xa1T\xa4code\xd3\xff\xff\xff\xff\x7f\xff\xff\xff", "out of the int32 range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MsgPack.Decode([]byte(tt.frame))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Decode(%q) error = %v, want ErrMalformed saying %q", tt.frame, err, tt.wantMsg)
			}
		})
	}
}

func TestMsgPackEncode(t *testing.T) {
	tests := []struct {
		name string
		e    Envelope
		want string
	}{
		{"type only", Envelope{Type: "Ping"}, "\x81\xa4type\xa4Ping"},
		{"field order", Envelope{Type: "T", ID: "1", Data: []byte{0x80}, Code: 1, Msg: "m"},
			"\x85\xa4type\xa1T\xa2id\xa11\xa4data\x80\xa4code\x01\xa3msg\xa1m"},
		{"zero-length data left out", Envelope{Type: "T", Data: []byte{}}, "\x81\xa4type\xa1T"},
		{"str8", Envelope{Type: strings.Repeat("x", 32)}, "\x81\xa4type\xd9\x20" + strings.Repeat("x", 32)},
		{"str16", Envelope{Type: "T", Msg: strings.Repeat("x", 256)}, "\x82\xa4type\xa1T\xa3msg\xda\x01\x00" + strings.Repeat("x", 256)},
		{"invalid UTF-8", Envelope{Type: "a\xff"}, "\x81\xa4type\xa4a\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MsgPack.Encode(tt.e)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Encode(%+v) = %q, %v; want %q", tt.e, got, err, tt.want)
			}
		})
	}
}

// TestMsgPackEncodeLibrary checks that the hand-written encoder agrees with
// the msgpack library on every form of strings and codes.
func TestMsgPackEncodeLibrary(t *testing.T) {
	for _, code := range []int32{1, 127, 128, 255, 256, 65535, 65536, 1 << 30, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31} {
		for _, n := range []int{1, 31, 32, 255, 256, 65535, 65536} {
			e := Envelope{Type: "T", Code: code, Msg: strings.Repeat("m", n)}
			got, err := MsgPack.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Type string `msgpack:"type"`
				Code int32  `msgpack:"code"`
				Msg  string `msgpack:"msg"`
			}
			if err := msgpack.Unmarshal(got, &m); err != nil || m.Type != e.Type || m.Code != e.Code || m.Msg != e.Msg {
				t.Fatalf("library reads Encode(code %d, msg of %d bytes) as %+v, %v", code, n, m, err)
			}
			var want bytes.Buffer
			if err := msgpack.NewEncoder(&want).EncodeInt(int64(code)); err != nil {
				t.Fatal(err)
			}
			if i := bytes.Index(got, []byte("\xa4code")) + 5; !bytes.HasPrefix(got[i:], want.Bytes()) {
				t.Fatalf("code %d encoded as % x, library writes % x", code, got[i:i+want.Len()], want.Bytes())
			}
		}
	}
}

// FuzzMsgPackDecode checks that Decode never panics, that what it accepts
// the msgpack library reads as one value, and that it encodes and decodes
// back to the same envelope.
func FuzzMsgPackDecode(f *testing.F) {
	f.Add([]byte("\x82\xa4type\xa4Echo\xa4data\x81\xa7Message\xa6你好"))
	f.Add([]byte("\x85\xa4type\xa1T\xa2id\xa11\xa4data\x92\xc4\x01z\xd6\xff\x00\x00\x00\x01\xa4code\xd0\x80\xa3msg\xa1m"))
	f.Add([]byte("\xde\x00\x02\xa1x\xdc\x00\x01\xc0\xa4type\xd9\x01T"))
	f.Add([]byte("\x82\xa4type\xa1T\xa4data\xdd\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		e, err := MsgPack.Decode(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) error %v does not wrap ErrMalformed", frame, err)
			}
			return
		}
		r := bytes.NewReader(frame)
		if err := msgpack.NewDecoder(r).Skip(); err != nil || r.Len() != 0 {
			t.Fatalf("Decode accepted %q, the library does not (%v, %d bytes left)", frame, err, r.Len())
		}
		again := encodeDecode(t, MsgPack, e)
		if !envelopesEqual(again, e) {
			t.Fatalf("Decode(%q) = %+v, after Encode and Decode %+v", frame, e, again)
		}
	})
}
