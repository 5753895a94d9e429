package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/hotpot-rt/hotpot/api"
)

// specRouter finds the operation of a request in api/openapi.yaml. The
// document's servers are dropped so that any host matches: test nodes
// listen on random ports.
var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := specDoc()
	if err != nil {
		return nil, err
	}
	doc.Servers = nil
	return legacy.NewRouter(doc)
})

// specDoc is api/openapi.yaml, loaded once.
var specDoc = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec())
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	return doc, nil
})

// validateSchema checks a JSON document against the spec's schema called
// name (components/schemas).
func validateSchema(name string, doc []byte) error {
	spec, err := specDoc()
	if err != nil {
		return err
	}
	ref := spec.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("no schema %s in api/openapi.yaml", name)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return err
	}
	validateMu.Lock()
	defer validateMu.Unlock()
	return ref.Value.VisitJSON(v, openapi3.MultiErrors())
}

// validateMu serialises response validation: kin-openapi caches compiled
// schema state lazily, and validations are cheap next to the requests.
var validateMu sync.Mutex

// validatingTransport is an http.RoundTripper that checks every response
// against api/openapi.yaml: the status must be one the operation
// documents, and headers and body must match it. A streamed
// text/event-stream body is left alone (status and headers are checked).
// A mismatch fails t; the response is handed on either way, its body
// intact.
type validatingTransport struct {
	t    testing.TB
	base http.RoundTripper
}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := vt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if err := validateResponse(req, resp); err != nil {
		vt.t.Errorf("%s %s: %s: the response does not match api/openapi.yaml: %v", req.Method, req.URL.RequestURI(), resp.Status, err)
	}
	return resp, nil
}

// validateResponse checks resp, the answer to req, against the spec. It
// reads a non-streaming body and puts it back.
func validateResponse(req *http.Request, resp *http.Response) error {
	router, err := specRouter()
	if err != nil {
		return err
	}
	routed := req
	if req.URL.RawPath != "" {
		// The router matches the decoded path, where an escaped slash
		// in a parameter would make a new segment: match the raw one.
		u := *req.URL
		u.Path, u.RawPath = u.RawPath, ""
		routed = req.Clone(req.Context())
		routed.URL = &u
	}
	route, pathParams, err := router.FindRoute(routed)
	if err != nil {
		return fmt.Errorf("no operation for the request: %w", err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: pathParams,
			Route:      route,
			Options:    opts,
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Options: opts,
	}
	if mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mediaType == "text/event-stream" {
		opts.ExcludeResponseBody = true
	} else {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("reading the body: %w", err)
		}
		input.SetBodyBytes(body)
	}
	validateMu.Lock()
	defer validateMu.Unlock()
	return openapi3filter.ValidateResponse(req.Context(), input)
}

// TestValidatingTransportCatchesMismatches makes sure the validation all
// other tests rely on does fail on responses the spec does not allow.
func TestValidatingTransportCatchesMismatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, path, contentType, body string
		status                                int
	}{
		{"undocumented status", http.MethodGet, "/healthz", "application/json", `{"status":"ok"}`, http.StatusTeapot},
		{"body against the schema", http.MethodGet, "/agents", "application/json", `{"items":[{"id":1}]}`, http.StatusOK},
		{"wrong content type", http.MethodGet, "/nodes", "text/html", `<p>hi</p>`, http.StatusOK},
		{"problem without status", http.MethodGet, "/agents/u1", "application/problem+json", `{"title":"Not Found"}`, http.StatusNotFound},
		{"bad date-time", http.MethodGet, "/agents/u1", "application/json",
			`{"id":"u1","node":"n","transport":"ws","codec":"json","remote_addr":"x","connected_at":"yesterday","last_seen":"2025-06-01T12:00:00Z","groups":[]}`, http.StatusOK},
		{"path outside the spec", http.MethodGet, "/nope", "application/json", `{}`, http.StatusOK},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp := &http.Response{
			StatusCode: tc.status,
			Header:     http.Header{"Content-Type": {tc.contentType}},
			Body:       io.NopCloser(bytes.NewReader([]byte(tc.body))),
		}
		if err := validateResponse(req, resp); err == nil {
			t.Errorf("%s: validation passed, want a failure", tc.name)
		}
	}

	// And a good one passes, with its body still readable.
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/healthz", nil)
	resp := &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader([]byte(`{"status":"ok"}`))),
	}
	if err := validateResponse(req, resp); err != nil {
		t.Fatalf("a good response failed validation: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != `{"status":"ok"}` {
		t.Fatalf("body after validation = %q", b)
	}
}
