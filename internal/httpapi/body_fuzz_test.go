package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzCallBody throws arbitrary bodies at the decoding and checking of a
// call request: never a panic, never a 5xx, and whatever is refused is
// refused with a problem.
func FuzzCallBody(f *testing.F) {
	for _, seed := range []string{
		`{"type":"Add","data":{"a":1},"timeout_ms":2000}`,
		`{"type":"Blob","data_base64":"AQID"}`,
		`{"type":"X","data":1,"data_base64":"AQ=="}`,
		`{"type":"","unknown":true}`,
		`{"type":"X"} {"type":"Y"}`,
		`[1,2,3]`, `null`, `"str"`, `{"type":1}`, `{"data_base64":"!!"}`,
		"\xff\xfe\x00",
	} {
		f.Add([]byte(seed))
	}
	a := &API{bodyTimeout: bodyTimeout}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/agents/a/call", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req CallRequest
		if !a.decodeBody(w, r, &req) {
			if w.Code < 400 || w.Code >= 500 || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("refused with %d %q", w.Code, w.Header().Get("Content-Type"))
			}
			return
		}
		if _, ok := checkMessage(w, req.Type, req.Data, req.DataBase64); !ok && w.Code != http.StatusBadRequest {
			t.Fatalf("message refused with %d", w.Code)
		}
	})
}
