package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotpot-rt/hotpot/web"
)

func TestServesPagesAtCleanPaths(t *testing.T) {
	ui := web.New()
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/", "text/html; charset=utf-8", "<title>hotpot dashboard</title>"},
		{"/playground", "text/html; charset=utf-8", "<title>hotpot playground</title>"},
		{"/demo/framesync", "text/html; charset=utf-8", "frame-sync"},
		{"/hotpot.js", "text/javascript; charset=utf-8", "export function connect"},
		{"/style.css", "text/css; charset=utf-8", "prefers-color-scheme"},
	} {
		rec := httptest.NewRecorder()
		ui.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != tc.contentType || !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.contains, strings.Contains(rec.Body.String(), tc.contains))
		}
	}
	for _, path := range []string{"/index.html", "/playground.html", "/nope", "/web.go"} {
		rec := httptest.NewRecorder()
		ui.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
}

// A page is revalidated by its ETag and answered 304 when unchanged, and
// carries a Content-Security-Policy that keeps it to its own node.
func TestRevalidatesAndLocksDownPages(t *testing.T) {
	ui := web.New()
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, rec.Header().Get("Cache-Control"))
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	ui.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", rec.Code)
	}
}
