package api

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// loadSpec parses and validates the embedded description, examples included,
// and fails the test on any error.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(Spec())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	err = doc.Validate(context.Background(),
		openapi3.EnableSchemaFormatValidation(),
		openapi3.EnableExamplesValidation(),
		openapi3.EnableMultiError())
	if err != nil {
		t.Fatalf("openapi.yaml is invalid:\n%v", err)
	}
	return doc
}

// operations are the operations of the API, by operationId. The generated
// server interface and client are named after them, so renaming one breaks
// the code that implements or calls it.
var operations = map[string]struct{ method, path string }{
	"callAgent":      {http.MethodPost, "/agents/{id}/call"},
	"pushAgentEvent": {http.MethodPost, "/agents/{id}/events"},
	"kickAgent":      {http.MethodDelete, "/agents/{id}"},
	"listAgents":     {http.MethodGet, "/agents"},
	"getAgent":       {http.MethodGet, "/agents/{id}"},
	"joinGroup":      {http.MethodPut, "/agents/{id}/groups/{group}"},
	"leaveGroup":     {http.MethodDelete, "/agents/{id}/groups/{group}"},
	"pushGroupEvent": {http.MethodPost, "/groups/{group}/events"},
	"broadcast":      {http.MethodPost, "/broadcast"},
	"streamEvents":   {http.MethodGet, "/events"},
	"listNodes":      {http.MethodGet, "/nodes"},
	"healthz":        {http.MethodGet, "/healthz"},
	"readyz":         {http.MethodGet, "/readyz"},
	"metrics":        {http.MethodGet, "/metrics"},
	"openapiSpec":    {http.MethodGet, "/openapi.yaml"},
}

// publicPaths are the paths served without the API key.
var publicPaths = []string{"/healthz", "/readyz", "/openapi.yaml"}

// eachOperation calls f for every operation of doc.
func eachOperation(doc *openapi3.T, f func(method, path string, op *openapi3.Operation)) {
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			f(method, path, op)
		}
	}
}

func TestSpecValid(t *testing.T) {
	doc := loadSpec(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info.Title != "hotpot" || doc.Info.Version != "0.1.0" {
		t.Errorf("info = %q %q, want hotpot 0.1.0", doc.Info.Title, doc.Info.Version)
	}
}

func TestSpecOperations(t *testing.T) {
	doc := loadSpec(t)
	seen := make(map[string]bool)
	eachOperation(doc, func(method, path string, op *openapi3.Operation) {
		want, ok := operations[op.OperationID]
		switch {
		case !ok:
			t.Errorf("%s %s: operationId %q is not one of the API's operations", method, path, op.OperationID)
		case want.method != method || want.path != path:
			t.Errorf("operationId %q is on %s %s, want %s %s", op.OperationID, method, path, want.method, want.path)
		}
		seen[op.OperationID] = true
	})
	for id, want := range operations {
		if !seen[id] {
			t.Errorf("operationId %q (%s %s) is missing", id, want.method, want.path)
		}
	}
}

func TestSpecSecurity(t *testing.T) {
	doc := loadSpec(t)
	scheme := doc.Components.SecuritySchemes["apiKey"]
	if scheme == nil || scheme.Value.Type != "http" || scheme.Value.Scheme != "bearer" {
		t.Fatalf("components.securitySchemes.apiKey must be {type: http, scheme: bearer}")
	}
	if len(doc.Security) != 1 || len(doc.Security[0]) != 1 || doc.Security[0]["apiKey"] == nil {
		t.Errorf("global security = %v, want [{apiKey: []}]", doc.Security)
	}
	eachOperation(doc, func(method, path string, op *openapi3.Operation) {
		public := slices.Contains(publicPaths, path)
		switch {
		case public && (op.Security == nil || len(*op.Security) != 0):
			t.Errorf("%s %s must be public (security: [])", method, path)
		case !public && op.Security != nil:
			t.Errorf("%s %s overrides the global security; only %v may", method, path, publicPaths)
		}
		if !public && op.Responses.Status(http.StatusUnauthorized) == nil {
			t.Errorf("%s %s requires the API key but documents no 401", method, path)
		}
	})
}

func TestSpecErrorsAreProblems(t *testing.T) {
	doc := loadSpec(t)
	eachOperation(doc, func(method, path string, op *openapi3.Operation) {
		for code, resp := range op.Responses.Map() {
			status, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s %s: response %q: want an explicit status code", method, path, code)
				continue
			}
			if status < 400 {
				continue
			}
			content := resp.Value.Content
			if len(content) != 1 || content.Get("application/problem+json") == nil {
				t.Errorf("%s %s: %d must be application/problem+json only, has %v", method, path, status, slices.Sorted(maps.Keys(content)))
				continue
			}
			if ref := content.Get("application/problem+json").Schema.Ref; ref != "#/components/schemas/Problem" {
				t.Errorf("%s %s: %d: schema %q, want the Problem schema", method, path, status, ref)
			}
		}
	})
}

func TestSpecExamplesAndBodies(t *testing.T) {
	doc := loadSpec(t)
	eachOperation(doc, func(method, path string, op *openapi3.Operation) {
		if op.RequestBody != nil {
			for typ, mt := range op.RequestBody.Value.Content {
				if mt.Example == nil && len(mt.Examples) == 0 {
					t.Errorf("%s %s: request body %s has no example", method, path, typ)
				}
				ap := mt.Schema.Value.AdditionalProperties
				if ap.Has == nil || *ap.Has {
					t.Errorf("%s %s: request body %s must set additionalProperties: false", method, path, typ)
				}
			}
		}
		for code, resp := range op.Responses.Map() {
			if code[0] != '2' {
				continue
			}
			for typ, mt := range resp.Value.Content {
				if mt.Example == nil && len(mt.Examples) == 0 {
					t.Errorf("%s %s: %s response %s has no example", method, path, code, typ)
				}
			}
		}
	})
}
