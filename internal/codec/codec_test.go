package codec

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// envelopesEqual reports whether a and b hold the same fields, Data byte
// for byte, nil Data only matching nil.
func envelopesEqual(a, b Envelope) bool {
	return a.Type == b.Type && a.ID == b.ID && a.Code == b.Code && a.Msg == b.Msg &&
		bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil)
}

// encodeDecode encodes e with c and decodes the frame back.
func encodeDecode(t testing.TB, c Codec, e Envelope) Envelope {
	t.Helper()
	frame, err := c.Encode(e)
	if err != nil {
		t.Fatalf("%s: Encode(%+v): %v", c.Name(), e, err)
	}
	got, err := c.Decode(frame)
	if err != nil {
		t.Fatalf("%s: Decode(Encode(%+v)) = Decode(%q): %v", c.Name(), e, frame, err)
	}
	return got
}

func TestLookup(t *testing.T) {
	for _, want := range []Codec{JSON, MsgPack, Proto} {
		got, ok := Lookup(want.Name())
		if !ok || got != want {
			t.Fatalf("Lookup(%q) = %v, %v", want.Name(), got, ok)
		}
	}
	if got, ok := Lookup("xml"); ok || got != nil {
		t.Fatalf("Lookup(xml) = %v, %v; want nil, false", got, ok)
	}
	if JSON.Binary() || !MsgPack.Binary() || !Proto.Binary() {
		t.Fatal("only the JSON codec must use text frames")
	}
}

// TestRoundTrip sends every field through every codec, data converted from
// one JSON payload.
func TestRoundTrip(t *testing.T) {
	envelopes := []Envelope{
		{Type: "T"},
		{Type: "Chat", ID: "42", Code: 0, Msg: ""},
		{Type: "Err", ID: "1", Code: -2147483648, Msg: "boom"},
		{Type: "Err", Code: 2147483647},
		{Type: "Err", Code: 300},
		{Type: "Err", Code: -300},
		{Type: "Err", Code: 70000},
		{Type: "你好", ID: "é😀", Msg: strings.Repeat("m", 70000)},
		{Type: strings.Repeat("x", MaxTypeBytes), ID: strings.Repeat("i", 40)},
		{Type: "Ctl", ID: "\x00\"\\\n", Msg: strings.Repeat("é", 200)},
	}
	payloads := []Payload{{}, {JSON: []byte(`{}`)}, {JSON: []byte(`null`)},
		{JSON: []byte(`{"Message":"你好","n":[1,-2,3.5,true,null]}`)}}
	for _, c := range []Codec{JSON, MsgPack, Proto} {
		for _, e := range envelopes {
			for _, p := range payloads {
				data, err := c.Data(p)
				if err != nil {
					t.Fatalf("%s: Data(%s): %v", c.Name(), p.JSON, err)
				}
				e.Data = data
				if got := encodeDecode(t, c, e); !envelopesEqual(got, e) {
					t.Fatalf("%s: round trip of %+v gave %+v", c.Name(), e, got)
				}
			}
		}
	}
}

// TestInvalidUTF8Encode checks that every codec replaces invalid UTF-8 in
// strings, so that whatever it writes it reads back.
func TestInvalidUTF8Encode(t *testing.T) {
	e := Envelope{Type: "a\xffb", ID: "\xc3", Msg: "ok\xe2\x82"}
	for _, c := range []Codec{JSON, MsgPack, Proto} {
		got := encodeDecode(t, c, e)
		if got.Type != "a\uFFFDb" || got.ID != "\uFFFD" || !strings.HasPrefix(got.Msg, "ok\uFFFD") {
			t.Fatalf("%s: round trip of %+v gave %+v", c.Name(), e, got)
		}
	}
}

// TestCrossCodecData relays data from a JSON client to msgpack and proto
// clients and back.
func TestCrossCodecData(t *testing.T) {
	const data = `{"Message":"你好","list":[1,2.5,"x",false,null],"nested":{"a":{}}}`
	in, err := JSON.Decode([]byte(`{"type":"Echo","data":` + data + `}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Codec{MsgPack, Proto} {
		p, err := JSON.Payload(in.Data)
		if err != nil {
			t.Fatal(err)
		}
		native, err := c.Data(p)
		if err != nil {
			t.Fatalf("%s: Data(%+v): %v", c.Name(), p, err)
		}
		out := encodeDecode(t, c, Envelope{Type: in.Type, Data: native})
		back, err := c.Payload(out.Data)
		if err != nil {
			t.Fatalf("%s: Payload(%q): %v", c.Name(), out.Data, err)
		}
		jsonData, err := JSON.Data(back)
		if err != nil || string(jsonData) != data {
			t.Fatalf("%s: data came back as %s, %v; want %s", c.Name(), jsonData, err, data)
		}
	}
	if _, err := MsgPack.Data(Payload{Bytes: []byte{0xff}}); !errors.Is(err, ErrNotJSON) {
		t.Fatalf("opaque bytes to msgpack: error %v, want ErrNotJSON", err)
	}
}

// TestConcurrentUse runs every codec from several goroutines, for the race
// detector to watch the proto codec's pool.
func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				for _, c := range []Codec{JSON, MsgPack, Proto} {
					data, err := c.Data(Payload{JSON: []byte(`{"n":` + strconv.Itoa(i) + `}`)})
					if err != nil {
						t.Errorf("%s: Data: %v", c.Name(), err)
						return
					}
					e := Envelope{Type: "T", ID: strconv.Itoa(g*1000 + i), Data: data, Code: int32(i)}
					frame, err := c.Encode(e)
					if err != nil {
						t.Errorf("%s: Encode(%+v): %v", c.Name(), e, err)
						return
					}
					if got, err := c.Decode(frame); err != nil || !envelopesEqual(got, e) {
						t.Errorf("%s: Decode(Encode(%+v)) = %+v, %v", c.Name(), e, got, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// benchmarkEnvelope is a ~100-byte chat message in each codec's form.
func benchmarkEnvelope(b *testing.B, c Codec) Envelope {
	data, err := c.Data(Payload{JSON: []byte(`{"room":"lobby","from":"alice","text":"hello, world!","seq":17}`)})
	if err != nil {
		b.Fatal(err)
	}
	return Envelope{Type: "Chat", ID: "42", Data: data}
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range []Codec{JSON, MsgPack, Proto} {
		b.Run(c.Name(), func(b *testing.B) {
			e := benchmarkEnvelope(b, c)
			frame, _ := c.Encode(e)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range []Codec{JSON, MsgPack, Proto} {
		b.Run(c.Name(), func(b *testing.B) {
			frame, err := c.Encode(benchmarkEnvelope(b, c))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
