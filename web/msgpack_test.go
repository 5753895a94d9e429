package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// msgpackCases are JSON values that between them take every form msgpack
// has for JSON's values: each integer width and sign, float32 and float64,
// and the fixed, 8-, 16- and 32-bit sizes of strings, arrays and maps.
func msgpackCases() []string {
	cases := []string{
		"null", "true", "false",
		"0", "127", "128", "255", "256", "65535", "65536", "4294967295", "4294967296", "9007199254740991",
		"-1", "-32", "-33", "-128", "-129", "-32768", "-32769", "-2147483648", "-2147483649", "-9007199254740991",
		"1.5", "-0.25", "0.1", "1e+300",
		`""`, `"é ✓ 你好 🎮 \"quoted\" \\ \n"`,
		"[]", "{}", `{"a":[1,{"b":null}],"c":{"d":[true,false,"x"]}}`,
	}
	for _, n := range []int{31, 32, 255, 256, 65535, 65536} {
		cases = append(cases, `"`+strings.Repeat("x", n)+`"`)
	}
	for _, n := range []int{15, 16, 65535, 65536} {
		cases = append(cases, "["+strings.TrimSuffix(strings.Repeat("0,", n), ",")+"]")
		members := make([]string, n)
		for i := range members {
			members[i] = fmt.Sprintf(`"k%d":%d`, i, i%300)
		}
		cases = append(cases, "{"+strings.Join(members, ",")+"}")
	}
	return cases
}

// goValue decodes JSON into what a Go program would encode: whole numbers
// as int64, others as float64.
func goValue(t *testing.T, js string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var convert func(any) any
	convert = func(v any) any {
		switch v := v.(type) {
		case json.Number:
			if i, err := v.Int64(); err == nil {
				return i
			}
			f, _ := v.Float64()
			return f
		case []any:
			for i := range v {
				v[i] = convert(v[i])
			}
		case map[string]any:
			for k := range v {
				v[k] = convert(v[k])
			}
		}
		return v
	}
	return convert(v)
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%.80s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%.80s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// openMsgpack loads msgpack.js in a page of node, as window.mp.
func openMsgpack(t *testing.T, node *servertest.Process) *browsertest.Tab {
	t.Helper()
	tab := browsertest.NewTab(t)
	tab.Navigate(node.URL() + "/playground")
	browsertest.Eval[bool](tab, `(async () => {
		window.mp = await import("/msgpack.js");
		window.fromBase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
		window.toBase64 = (b) => { let s = ""; for (const c of b) s += String.fromCharCode(c); return btoa(s); };
		return true;
	})()`)
	return tab
}

// msgpack.js reads what the Go library writes (compact or not), and writes
// what it reads, in the smallest form, as the Go library's compact form.
func TestMsgpackJSInteroperatesWithGo(t *testing.T) {
	node := servertest.Start(t)
	tab := openMsgpack(t, node)
	for _, c := range msgpackCases() {
		v := goValue(t, c)
		for _, compact := range []bool{false, true} {
			var b bytes.Buffer
			enc := msgpack.NewEncoder(&b)
			enc.UseCompactInts(compact)
			enc.UseCompactFloats(compact)
			enc.SetSortMapKeys(true)
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			got := browsertest.Eval[string](tab, `JSON.stringify(mp.decode(fromBase64("`+base64.StdEncoding.EncodeToString(b.Bytes())+`")))`)
			if !sameJSON(t, got, c) {
				t.Errorf("decoding Go's %.60s (compact %v): %.60s", c, compact, got)
			}
			if !compact || strings.HasPrefix(c, "{") || strings.Contains(c, ".") || strings.Contains(c, "e+") {
				continue // only the compact form is the smallest; key order and float widths may differ
			}
			if js := browsertest.Eval[string](tab, `toBase64(mp.encode(JSON.parse(`+js(t, c)+`)))`); js != base64.StdEncoding.EncodeToString(b.Bytes()) {
				t.Errorf("encoding %.60s: %.40x…, Go writes %.40x…", c, mustBase64(t, js), b.Bytes())
			}
		}
		encoded := mustBase64(t, browsertest.Eval[string](tab, `toBase64(mp.encode(JSON.parse(`+js(t, c)+`)))`))
		var back any
		if err := msgpack.Unmarshal(encoded, &back); err != nil {
			t.Errorf("Go cannot read msgpack.js's %.60s: %v", c, err)
			continue
		}
		if got, err := json.Marshal(back); err != nil || !sameJSON(t, string(got), c) {
			t.Errorf("Go reads msgpack.js's %.60s as %.60s (%v)", c, got, err)
		}
	}
}

func mustBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// What JSON has no word for: bin, undefined, big integers; and what is not
// msgpack, or not all of it.
func TestMsgpackJSEdges(t *testing.T) {
	node := servertest.Start(t)
	tab := openMsgpack(t, node)
	for _, tc := range []struct{ expr, want string }{
		{`mp.encode(new Uint8Array([1, 2, 3]))`, "c403010203"},
		{`mp.encode(new Uint8Array(300))`, "c5012c" + strings.Repeat("00", 300)},
		{`mp.encode({ a: undefined, b: 1, f: () => 1 })`, "81a16201"},
		{`mp.encode([undefined])`, "91c0"},
		{`mp.encode(2 ** 53)`, "cb4340000000000000"},
		{`mp.encode(2n ** 63n)`, "cf8000000000000000"},
		{`mp.encode(-(2n ** 63n))`, "d38000000000000000"},
		{`mp.encode(new Date(0))`, "b8" + hex.EncodeToString([]byte("1970-01-01T00:00:00.000Z"))},
	} {
		got := browsertest.Eval[string](tab, `Array.from(`+tc.expr+`, (b) => b.toString(16).padStart(2, "0")).join("")`)
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.expr, got, tc.want)
		}
	}
	for _, tc := range []struct{ hex, want string }{
		{"c403010203", `[1,2,3]`}, // shown as an array
		{"81a95f5f70726f746f5f5f01", `{"__proto__":1}`},
		{"cf8000000000000000", `9223372036854776000`}, // rounded, as JSON.parse rounds
		{"ca3fc00000", `1.5`},
		{"82a162c0a16101", `{"b":null,"a":1}`},
	} {
		got := browsertest.Eval[string](tab, `(() => {
			const v = mp.decode(fromBase64("`+base64.StdEncoding.EncodeToString(mustHex(t, tc.hex))+`"));
			return v instanceof Uint8Array ? JSON.stringify(Array.from(v)) : JSON.stringify(v);
		})()`)
		if got != tc.want {
			t.Errorf("decoding %s: %s, want %s", tc.hex, got, tc.want)
		}
	}
	proto := base64.StdEncoding.EncodeToString(mustHex(t, "81a95f5f70726f746f5f5f01"))
	if !browsertest.Eval[bool](tab, `Object.getPrototypeOf(mp.decode(fromBase64("`+proto+`"))) === Object.prototype`) {
		t.Error(`a "__proto__" key changed the prototype`)
	}
	for _, tc := range []struct{ hex, wantErr string }{
		{"c1", "unsupported type 0xc1"},
		{"d40100", "unsupported type 0xd4"},
		{"9201", "ends early"},
		{"ddffffffff", "ends early"},
		{"a3616263", ""},
		{"a561626364", "ends early"},
		{"d9", "ends early"},
		{"0100", "1 bytes after the value"},
		{"", "ends early"},
	} {
		got := browsertest.Eval[string](tab, `(() => {
			try { mp.decode(fromBase64("`+base64.StdEncoding.EncodeToString(mustHex(t, tc.hex))+`")); return ""; }
			catch (err) { return err.message; }
		})()`)
		if (tc.wantErr == "") != (got == "") || !strings.Contains(got, tc.wantErr) {
			t.Errorf("decoding %q: error %q, want one with %q", tc.hex, got, tc.wantErr)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
