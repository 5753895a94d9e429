package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// maxDataDepth is how deeply Payload nests JSON: encoding/json's limit of
// 10000 levels less the one the envelope takes, so that the JSON codec
// reads back whatever Payload writes.
const maxDataDepth = 10000 - 1

// Data transcodes JSON to one msgpack value. p.JSON must be valid JSON
// (else the error wraps ErrMalformed); p.Bytes must be too (else the error
// wraps ErrNotJSON). Integers become int64, or uint64 above its range;
// other numbers float64 (an error wrapping ErrMalformed when out of its
// range); objects maps with string keys, in source order. An empty payload
// gives nil.
func (msgpackCodec) Data(p Payload) ([]byte, error) {
	src := p.JSON
	switch {
	case p.JSON != nil:
		if !json.Valid(p.JSON) {
			return nil, fmt.Errorf("msgpack codec: payload JSON: %w", jsonSyntaxError(p.JSON))
		}
	case p.Bytes == nil:
		return nil, nil
	case !json.Valid(p.Bytes):
		return nil, fmt.Errorf("msgpack codec: opaque bytes: %w", ErrNotJSON)
	default:
		src = p.Bytes
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	tree, err := readJSONTree(dec)
	if err != nil {
		return nil, fmt.Errorf("%w: msgpack codec: reading JSON: %v", ErrMalformed, err)
	}
	var out bytes.Buffer
	if err := writeMsgpack(msgpack.NewEncoder(&out), tree); err != nil {
		return nil, fmt.Errorf("msgpack codec: %w", err)
	}
	return out.Bytes(), nil
}

// jsonMember is one member of a JSON object.
type jsonMember struct {
	key   string
	value any
}

// readJSONTree reads the next JSON value from dec, which must use numbers:
// nil, bool, string, json.Number, []any for arrays, or []jsonMember for
// objects, members in source order.
func readJSONTree(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('['):
		items := []any{}
		for dec.More() {
			item, err := readJSONTree(dec)
			if err != nil {
				return nil, err
			}
			items = append(items, item)
		}
		_, err = dec.Token()
		return items, err
	case json.Delim('{'):
		members := []jsonMember{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, err
			}
			value, err := readJSONTree(dec)
			if err != nil {
				return nil, err
			}
			name, _ := key.(string)
			members = append(members, jsonMember{key: name, value: value})
		}
		_, err = dec.Token()
		return members, err
	}
	return tok, nil
}

// writeMsgpack writes a tree made by readJSONTree.
func writeMsgpack(enc *msgpack.Encoder, tree any) error {
	switch v := tree.(type) {
	case bool:
		return enc.EncodeBool(v)
	case string:
		return enc.EncodeString(v)
	case json.Number:
		return writeMsgpackNumber(enc, v.String())
	case []any:
		if err := enc.EncodeArrayLen(len(v)); err != nil {
			return err
		}
		for _, item := range v {
			if err := writeMsgpack(enc, item); err != nil {
				return err
			}
		}
		return nil
	case []jsonMember:
		if err := enc.EncodeMapLen(len(v)); err != nil {
			return err
		}
		for _, m := range v {
			if err := enc.EncodeString(m.key); err != nil {
				return err
			}
			if err := writeMsgpack(enc, m.value); err != nil {
				return err
			}
		}
		return nil
	}
	return enc.EncodeNil() // the tree is nil: JSON null
}

// writeMsgpackNumber writes the JSON number n as an int64, a uint64 or a
// float64.
func writeMsgpackNumber(enc *msgpack.Encoder, n string) error {
	if !strings.ContainsAny(n, ".eE") {
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return enc.EncodeInt(i)
		}
		if u, err := strconv.ParseUint(n, 10, 64); err == nil {
			return enc.EncodeUint(u)
		}
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return fmt.Errorf("%w: number %s is out of the float64 range", ErrMalformed, n)
	}
	return enc.EncodeFloat64(f)
}

// Payload transcodes one msgpack value to JSON. Map keys that are not
// strings are formatted with fmt.Sprint (array, map and extension keys are
// refused); binary data becomes a base64 string, as encoding/json writes
// []byte. Extensions, NaN and infinities have no JSON form and give an
// error wrapping ErrMalformed, as do invalid msgpack, trailing bytes and
// nesting deeper than encoding/json reads. Empty data gives the empty
// payload.
func (msgpackCodec) Payload(data []byte) (Payload, error) {
	if len(data) == 0 {
		return Payload{}, nil
	}
	r := msgpackReader{b: data}
	if err := r.skip(); err != nil {
		return Payload{}, fmt.Errorf("msgpack codec: data: %w", err)
	}
	if r.off != len(data) {
		return Payload{}, fmt.Errorf("%w: msgpack codec: %d bytes after the data value", ErrMalformed, len(data)-r.off)
	}
	out, err := appendJSONValue(make([]byte, 0, 2*len(data)), msgpack.NewDecoder(bytes.NewReader(data)), 0)
	if err != nil {
		return Payload{}, fmt.Errorf("msgpack codec: data: %w", err)
	}
	return Payload{JSON: out}, nil
}

// appendJSONValue appends the next value of dec as JSON. depth counts the
// arrays and maps around it.
func appendJSONValue(b []byte, dec *msgpack.Decoder, depth int) ([]byte, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return b, err
	}
	switch {
	case c == msgpcode.Nil:
		return append(b, "null"...), dec.DecodeNil()
	case c == msgpcode.False, c == msgpcode.True:
		v, err := dec.DecodeBool()
		return strconv.AppendBool(b, v), err
	case c == msgpcode.Uint64:
		v, err := dec.DecodeUint64()
		return strconv.AppendUint(b, v, 10), err
	case msgpcode.IsFixedNum(c), c >= msgpcode.Uint8 && c <= msgpcode.Int64:
		v, err := dec.DecodeInt64()
		return strconv.AppendInt(b, v, 10), err
	case c == msgpcode.Float:
		v, err := dec.DecodeFloat32()
		if err != nil {
			return b, err
		}
		return appendJSONFloat(b, float64(v), 32)
	case c == msgpcode.Double:
		v, err := dec.DecodeFloat64()
		if err != nil {
			return b, err
		}
		return appendJSONFloat(b, v, 64)
	case msgpcode.IsString(c):
		v, err := dec.DecodeString()
		return AppendJSONString(b, v), err
	case msgpcode.IsBin(c):
		v, err := dec.DecodeBytes()
		return append(base64.StdEncoding.AppendEncode(append(b, '"'), v), '"'), err
	case msgpcode.IsExt(c):
		id, _, err := dec.DecodeExtHeader()
		if err != nil {
			return b, err
		}
		return b, fmt.Errorf("%w: msgpack extension type %d has no JSON form", ErrMalformed, id)
	}
	if depth == maxDataDepth {
		return b, fmt.Errorf("%w: data nested deeper than %d levels", ErrMalformed, maxDataDepth)
	}
	if msgpackIsArray(c) {
		n, err := dec.DecodeArrayLen()
		b = append(b, '[')
		for i := 0; i < n && err == nil; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b, err = appendJSONValue(b, dec, depth+1)
		}
		return append(b, ']'), err
	}
	n, err := dec.DecodeMapLen()
	b = append(b, '{')
	for i := 0; i < n && err == nil; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendJSONKey(b, dec); err == nil {
			b, err = appendJSONValue(append(b, ':'), dec, depth+1)
		}
	}
	return append(b, '}'), err
}

// appendJSONKey appends the next value of dec as a JSON object key.
func appendJSONKey(b []byte, dec *msgpack.Decoder) ([]byte, error) {
	c, err := dec.PeekCode()
	switch {
	case err != nil:
		return b, err
	case msgpcode.IsString(c):
		key, err := dec.DecodeString()
		return AppendJSONString(b, key), err
	case msgpackIsArray(c), msgpackIsMap(c), msgpcode.IsExt(c):
		return b, fmt.Errorf("%w: a map key is %s, which cannot be a JSON key", ErrMalformed, msgpackKind(c))
	}
	key, err := dec.DecodeInterfaceLoose()
	return AppendJSONString(b, fmt.Sprint(key)), err
}

// appendJSONFloat appends f as encoding/json writes a float of the given
// bit size.
func appendJSONFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("%w: %v has no JSON form", ErrMalformed, f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
		bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // e-09 becomes e-9
		b = b[:n-1]
	}
	return b, nil
}
