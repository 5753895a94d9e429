package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// jsonCodec carries envelopes as JSON objects in text frames:
//
//	{"type":"Echo","id":"7","data":{"Message":"hi"},"code":0,"msg":""}
//
// Keys match exactly (case-sensitive); unknown keys are ignored; when a key
// repeats, the last one wins. Data is any JSON value, kept as its raw text
// (null included); null for type, id, code or msg counts as absent.
type jsonCodec struct{}

// Name returns "json".
func (jsonCodec) Name() string { return "json" }

// Binary returns false: JSON envelopes travel as text frames.
func (jsonCodec) Binary() bool { return false }

// Decode parses a JSON envelope. The frame is validated in full first, then
// walked without reflection; the returned Data aliases frame.
func (jsonCodec) Decode(frame []byte) (Envelope, error) {
	if !json.Valid(frame) {
		return Envelope{}, jsonSyntaxError(frame)
	}
	i := skipJSONSpace(frame, 0)
	if frame[i] != '{' {
		return Envelope{}, fmt.Errorf("%w: message must be a JSON object, got %s", ErrMalformed, jsonKind(frame[i]))
	}
	var e Envelope
	i++
	for {
		i = skipJSONSpace(frame, i)
		switch frame[i] {
		case '}':
			return e, checkType(e.Type)
		case ',':
			i++
			continue
		}
		keyEnd := jsonValueEnd(frame, i)
		key := frame[i+1 : keyEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var unescaped string
			if err := json.Unmarshal(frame[i:keyEnd], &unescaped); err != nil {
				return Envelope{}, fmt.Errorf("%w: bad key %s: %v", ErrMalformed, frame[i:keyEnd], err)
			}
			key = []byte(unescaped)
		}
		i = skipJSONSpace(frame, skipJSONSpace(frame, keyEnd)+1) // past the colon
		valueEnd := jsonValueEnd(frame, i)
		value := frame[i:valueEnd:valueEnd]
		i = valueEnd
		var err error
		switch string(key) {
		case "type":
			e.Type, err = jsonStringField("type", value)
		case "id":
			e.ID, err = jsonStringField("id", value)
		case "data":
			e.Data = value
		case "code":
			e.Code, err = jsonCodeField(value)
		case "msg":
			e.Msg, err = jsonStringField("msg", value)
		}
		if err != nil {
			return Envelope{}, err
		}
	}
}

// jsonSyntaxError explains why frame is not valid JSON.
func jsonSyntaxError(frame []byte) error {
	err := json.Unmarshal(frame, new(json.RawMessage))
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		// Offset counts the bytes read, the bad one included.
		return fmt.Errorf("%w: invalid JSON at byte %d: %v", ErrMalformed, max(syntax.Offset-1, 0), err)
	}
	return fmt.Errorf("%w: invalid JSON: %v", ErrMalformed, err)
}

// jsonStringField decodes the string value of field; null reads as "".
// Invalid UTF-8 becomes U+FFFD, as in encoding/json.
func jsonStringField(field string, value []byte) (string, error) {
	switch value[0] {
	case 'n':
		return "", nil
	case '"':
	default:
		return "", fmt.Errorf("%w: %q must be a string, got %s", ErrMalformed, field, jsonKind(value[0]))
	}
	raw := value[1 : len(value)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(value, &s); err != nil {
		return "", fmt.Errorf("%w: bad %q string: %v", ErrMalformed, field, err)
	}
	return s, nil
}

// jsonCodeField decodes the integer value of "code"; null reads as 0.
func jsonCodeField(value []byte) (int32, error) {
	switch c := value[0]; {
	case c == 'n':
		return 0, nil
	case c != '-' && (c < '0' || c > '9'):
		return 0, fmt.Errorf("%w: \"code\" must be an integer, got %s", ErrMalformed, jsonKind(c))
	case bytes.ContainsAny(value, ".eE"):
		return 0, fmt.Errorf("%w: \"code\" must be an integer, got %s", ErrMalformed, value)
	}
	code, err := strconv.ParseInt(string(value), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: \"code\" %s is out of the int32 range", ErrMalformed, value)
	}
	return int32(code), nil
}

// jsonKind names the kind of the JSON value starting with byte c.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// skipJSONSpace returns the index of the first non-space byte of b at or
// after i.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// isJSONSpace reports whether c is JSON whitespace.
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// jsonValueEnd returns the index just past the JSON value starting at b[i].
// b must be valid JSON.
func jsonValueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		return i + 1
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = jsonValueEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isJSONSpace(b[i]) {
		i++
	}
	return i
}

// Encode writes the fields in the order type, id, data, code, msg, leaving
// out empty ones. Strings are escaped like encoding/json does (without HTML
// escaping), invalid UTF-8 becoming U+FFFD. e.Data is copied verbatim and
// must be valid JSON, as Data and Decode return; Encode never fails.
func (jsonCodec) Encode(e Envelope) ([]byte, error) {
	b := make([]byte, 0, len(`{"type":"","id":"","data":,"code":-2147483648,"msg":""}`)+
		len(e.Type)+len(e.ID)+len(e.Data)+len(e.Msg))
	b = AppendJSONString(append(b, `{"type":`...), e.Type)
	if e.ID != "" {
		b = AppendJSONString(append(b, `,"id":`...), e.ID)
	}
	if len(e.Data) > 0 {
		b = append(append(b, `,"data":`...), e.Data...)
	}
	if e.Code != 0 {
		b = strconv.AppendInt(append(b, `,"code":`...), int64(e.Code), 10)
	}
	if e.Msg != "" {
		b = AppendJSONString(append(b, `,"msg":`...), e.Msg)
	}
	return append(b, '}'), nil
}

// AppendJSONString appends s to b as a quoted JSON string, escaped as
// encoding/json escapes it (without HTML escaping), invalid UTF-8 becoming
// U+FFFD. It does not allocate beyond growing b.
func AppendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(append(b, s[start:i]...), `\ufffd`...)
				start = i + 1
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// Data returns p.JSON as is, or p.Bytes when they are valid JSON, failing
// with ErrNotJSON otherwise. An empty payload gives nil.
func (jsonCodec) Data(p Payload) ([]byte, error) {
	switch {
	case p.JSON != nil:
		return p.JSON, nil
	case p.Bytes == nil:
		return nil, nil
	case !json.Valid(p.Bytes):
		return nil, fmt.Errorf("json codec: opaque bytes: %w", ErrNotJSON)
	}
	return p.Bytes, nil
}

// Payload wraps data, which is JSON text, as Payload{JSON: data}; nil gives
// the empty payload. It never fails.
func (jsonCodec) Payload(data []byte) (Payload, error) {
	return Payload{JSON: data}, nil
}
