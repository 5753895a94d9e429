package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// msgpackCodec carries envelopes as msgpack maps in binary frames, with the
// string keys "type", "id", "data", "code" and "msg". Data is one native
// msgpack value, kept raw (nil included). Unknown keys are ignored; when a
// key repeats, the last one wins; nil for type, id, code or msg counts as
// absent.
//
// The envelope itself is read and written by hand, without reflection;
// Data and Payload transcode with github.com/vmihailenco/msgpack/v5.
type msgpackCodec struct{}

// Name returns "msgpack".
func (msgpackCodec) Name() string { return "msgpack" }

// Binary returns true: msgpack envelopes travel as binary frames.
func (msgpackCodec) Binary() bool { return true }

// Decode parses a msgpack envelope: a single map with string keys. Strings
// must be valid UTF-8 and code an integer in the int32 range. The returned
// Data aliases frame.
func (msgpackCodec) Decode(frame []byte) (Envelope, error) {
	r := msgpackReader{b: frame}
	c, pairs, err := r.head()
	if err != nil {
		return Envelope{}, err
	}
	if !msgpackIsMap(c) {
		return Envelope{}, fmt.Errorf("%w: message must be a msgpack map, got %s", ErrMalformed, msgpackKind(c))
	}
	var e Envelope
	for ; pairs > 0; pairs-- {
		key, err := r.key()
		if err != nil {
			return Envelope{}, err
		}
		switch string(key) {
		case "type":
			e.Type, err = r.str("type")
		case "id":
			e.ID, err = r.str("id")
		case "data":
			start := r.off
			err = r.skip()
			e.Data = frame[start:r.off:r.off]
		case "code":
			e.Code, err = r.int32("code")
		case "msg":
			e.Msg, err = r.str("msg")
		default:
			err = r.skip()
		}
		if err != nil {
			return Envelope{}, err
		}
	}
	if r.off != len(frame) {
		return Envelope{}, fmt.Errorf("%w: %d bytes after the msgpack map", ErrMalformed, len(frame)-r.off)
	}
	return e, checkType(e.Type)
}

// msgpackReader reads msgpack from b, starting at byte off. It checks the
// framing of every value it reads, so that nothing reads past b.
type msgpackReader struct {
	b   []byte
	off int
}

// take returns the next n bytes.
func (r *msgpackReader) take(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("%w: msgpack data ends early: %d bytes needed at byte %d, %d left",
			ErrMalformed, n, r.off, len(r.b)-r.off)
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// uint reads an n-byte big-endian unsigned integer, n ≤ 8.
func (r *msgpackReader) uint(n uint64) (uint64, error) {
	b, err := r.take(n)
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, err
}

// head reads the header of the next value: its first byte c, and size,
// which counts the elements of an array, the key-value pairs of a map, and
// the bytes that follow the header for any other value.
func (r *msgpackReader) head() (c byte, size uint64, err error) {
	b, err := r.take(1)
	if err != nil {
		return 0, 0, err
	}
	switch c = b[0]; {
	case msgpcode.IsFixedNum(c):
		return c, 0, nil
	case msgpcode.IsFixedMap(c), msgpcode.IsFixedArray(c):
		return c, uint64(c & 0x0f), nil
	case msgpcode.IsFixedString(c):
		return c, uint64(c & msgpcode.FixedStrMask), nil
	}
	switch c {
	case msgpcode.Nil, msgpcode.False, msgpcode.True:
		return c, 0, nil
	case msgpcode.Uint8, msgpcode.Int8:
		return c, 1, nil
	case msgpcode.Uint16, msgpcode.Int16:
		return c, 2, nil
	case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float:
		return c, 4, nil
	case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double:
		return c, 8, nil
	case msgpcode.FixExt1, msgpcode.FixExt2, msgpcode.FixExt4, msgpcode.FixExt8, msgpcode.FixExt16:
		return c, 1 + 1<<(c-msgpcode.FixExt1), nil // type byte + data
	case msgpcode.Str8, msgpcode.Bin8:
		size, err = r.uint(1)
	case msgpcode.Str16, msgpcode.Bin16, msgpcode.Array16, msgpcode.Map16:
		size, err = r.uint(2)
	case msgpcode.Str32, msgpcode.Bin32, msgpcode.Array32, msgpcode.Map32:
		size, err = r.uint(4)
	case msgpcode.Ext8:
		size, err = r.uint(1)
		size++ // type byte
	case msgpcode.Ext16:
		size, err = r.uint(2)
		size++
	case msgpcode.Ext32:
		size, err = r.uint(4)
		size++
	default:
		return c, 0, fmt.Errorf("%w: %s at byte %d", ErrMalformed, msgpackKind(c), r.off-1)
	}
	return c, size, err
}

// skip reads past the next value, however deeply nested, without recursion.
func (r *msgpackReader) skip() error {
	for pending := uint64(1); pending > 0; pending-- {
		c, size, err := r.head()
		switch {
		case err != nil:
			return err
		case msgpackIsMap(c):
			pending += 2 * size
		case msgpackIsArray(c):
			pending += size
		default:
			if _, err := r.take(size); err != nil {
				return err
			}
		}
		if left := uint64(len(r.b) - r.off); pending-1 > left { // every value takes a byte
			return fmt.Errorf("%w: msgpack data ends early: %d more values announced, %d bytes left",
				ErrMalformed, pending-1, left)
		}
	}
	return nil
}

// key reads a map key, which must be a string, and returns its bytes.
func (r *msgpackReader) key() ([]byte, error) {
	c, size, err := r.head()
	if err != nil {
		return nil, err
	}
	if !msgpcode.IsString(c) {
		return nil, fmt.Errorf("%w: msgpack map keys must be strings, got %s at byte %d", ErrMalformed, msgpackKind(c), r.off)
	}
	return r.take(size)
}

// str reads the string value of field; nil reads as "".
func (r *msgpackReader) str(field string) (string, error) {
	c, size, err := r.head()
	switch {
	case err != nil:
		return "", err
	case c == msgpcode.Nil:
		return "", nil
	case !msgpcode.IsString(c):
		return "", fmt.Errorf("%w: %q must be a string, got %s", ErrMalformed, field, msgpackKind(c))
	}
	b, err := r.take(size)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: %q is not valid UTF-8", ErrMalformed, field)
	}
	return string(b), nil
}

// int32 reads the integer value of field; nil reads as 0.
func (r *msgpackReader) int32(field string) (int32, error) {
	c, size, err := r.head()
	if err != nil {
		return 0, err
	}
	var v int64
	switch {
	case c == msgpcode.Nil:
		return 0, nil
	case c <= msgpcode.PosFixedNumHigh:
		return int32(c), nil
	case c >= msgpcode.NegFixedNumLow:
		return int32(int8(c)), nil
	case c >= msgpcode.Uint8 && c <= msgpcode.Uint64:
		u, err := r.uint(size)
		if err != nil {
			return 0, err
		}
		v = int64(min(u, math.MaxInt32+1))
	case c >= msgpcode.Int8 && c <= msgpcode.Int64:
		u, err := r.uint(size)
		if err != nil {
			return 0, err
		}
		shift := 64 - 8*size // sign-extend from size bytes
		v = int64(u<<shift) >> shift
	default:
		return 0, fmt.Errorf("%w: %q must be an integer, got %s", ErrMalformed, field, msgpackKind(c))
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %q is out of the int32 range", ErrMalformed, field)
	}
	return int32(v), nil
}

// msgpackIsMap reports whether c starts a map.
func msgpackIsMap(c byte) bool {
	return msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
}

// msgpackIsArray reports whether c starts an array.
func msgpackIsArray(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

// msgpackKind names the kind of the msgpack value starting with byte c.
func msgpackKind(c byte) string {
	switch {
	case msgpcode.IsFixedNum(c), c >= msgpcode.Uint8 && c <= msgpcode.Int64:
		return "an integer"
	case c == msgpcode.Float, c == msgpcode.Double:
		return "a float"
	case c == msgpcode.Nil:
		return "nil"
	case c == msgpcode.False, c == msgpcode.True:
		return "a boolean"
	case msgpcode.IsString(c):
		return "a string"
	case msgpcode.IsBin(c):
		return "binary data"
	case msgpackIsArray(c):
		return "an array"
	case msgpackIsMap(c):
		return "a map"
	case msgpcode.IsExt(c):
		return "an extension"
	}
	return fmt.Sprintf("the never-used msgpack byte 0x%02x", c)
}

// Encode writes a fixmap holding the fields type, id, data, code, msg in
// that order, leaving out empty ones; keys are fixstr (0xa0 | length),
// values take their shortest form. Invalid UTF-8 in strings becomes
// U+FFFD. e.Data is copied verbatim and must be exactly one msgpack value,
// as Data and Decode return; Encode never fails.
func (msgpackCodec) Encode(e Envelope) ([]byte, error) {
	fields := byte(1)
	for _, set := range [...]bool{e.ID != "", len(e.Data) > 0, e.Code != 0, e.Msg != ""} {
		if set {
			fields++
		}
	}
	b := make([]byte, 0, 48+len(e.Type)+len(e.ID)+len(e.Data)+len(e.Msg))
	b = appendMsgpackString(append(b, msgpcode.FixedMapLow|fields, 0xa4, 't', 'y', 'p', 'e'), e.Type)
	if e.ID != "" {
		b = appendMsgpackString(append(b, 0xa2, 'i', 'd'), e.ID)
	}
	if len(e.Data) > 0 {
		b = append(append(b, 0xa4, 'd', 'a', 't', 'a'), e.Data...)
	}
	if e.Code != 0 {
		b = appendMsgpackInt(append(b, 0xa4, 'c', 'o', 'd', 'e'), e.Code)
	}
	if e.Msg != "" {
		b = appendMsgpackString(append(b, 0xa3, 'm', 's', 'g'), e.Msg)
	}
	return b, nil
}

// appendMsgpackString appends s as the shortest msgpack str.
func appendMsgpackString(b []byte, s string) []byte {
	s = validUTF8(s)
	switch n := len(s); {
	case n <= int(msgpcode.FixedStrMask):
		b = append(b, msgpcode.FixedStrLow|byte(n))
	case n <= math.MaxUint8:
		b = append(b, msgpcode.Str8, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, msgpcode.Str16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, msgpcode.Str32), uint32(n))
	}
	return append(b, s...)
}

// appendMsgpackInt appends v in its shortest msgpack form, as the
// msgpack library's EncodeInt does.
func appendMsgpackInt(b []byte, v int32) []byte {
	switch {
	case v >= 0 && v <= int32(msgpcode.PosFixedNumHigh), v < 0 && v >= int32(int8(msgpcode.NegFixedNumLow)):
		return append(b, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		return append(b, msgpcode.Uint8, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Uint16), uint16(v))
	case v >= 0:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Uint32), uint32(v))
	case v >= math.MinInt8:
		return append(b, msgpcode.Int8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Int16), uint16(v))
	}
	return binary.BigEndian.AppendUint32(append(b, msgpcode.Int32), uint32(v))
}
