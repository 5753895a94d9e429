package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// maxBodyBytes bounds a request body.
const maxBodyBytes = 1 << 20

// bodyTimeout bounds how long a request body may take to arrive, as the
// HTTP server's ReadHeaderTimeout bounds its headers.
const bodyTimeout = 10 * time.Second

// decodeBody reads r's JSON body into v, refusing unknown fields and
// trailing data, within the API's body timeout. On failure it has already
// answered (400, 408, 413 or 415) and returns false.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, "the body must be application/json", Problem{})
		return false
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(a.bodyTimeout))
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("unexpected data after the JSON object")
	}
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		dropConnection(w)
		writeProblem(w, http.StatusRequestTimeout, fmt.Sprintf("the body did not arrive within %v", a.bodyTimeout), Problem{})
		return false
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxBodyBytes), Problem{})
		return false
	case err != nil:
		writeProblem(w, http.StatusBadRequest, bodyProblem(err), Problem{})
		return false
	}
	rc.SetReadDeadline(time.Time{})
	return true
}

// dropConnection makes the answer about to be written the connection's
// last, and stops net/http from reading what is left of the request body
// first (which a slow or silent client would hold up).
func dropConnection(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.NewResponseController(w).SetReadDeadline(time.Now())
}

// checkMessage validates the type and data members shared by calls and
// events, and returns the data. On failure it has already answered 400
// and returns false.
func checkMessage(w http.ResponseWriter, typ string, data json.RawMessage, dataBase64 []byte) (codec.Payload, bool) {
	switch {
	case typ == "" || len(typ) > codec.MaxTypeBytes:
		writeProblem(w, http.StatusBadRequest, fmt.Sprintf("type must be 1 to %d bytes", codec.MaxTypeBytes), Problem{})
		return codec.Payload{}, false
	case data != nil && dataBase64 != nil:
		writeProblem(w, http.StatusBadRequest, "give data or data_base64, not both", Problem{})
		return codec.Payload{}, false
	}
	return codec.Payload{JSON: data, Bytes: dataBase64}, true
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
