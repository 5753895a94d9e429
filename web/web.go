// Package web holds the node's browser UI: the dashboard, the client
// playground, the frame-sync demo and hotpot.js, the browser client they
// share. It is embedded in the binary, so a node serves it offline and
// nothing has to be built to run it.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed *.html *.js *.css *.svg demo
var files embed.FS

// pagePaths maps a page's file to the clean path it is served at; every
// other file is served under its own name.
var pagePaths = map[string]string{
	"index.html":          "/",
	"playground.html":     "/playground",
	"demo/framesync.html": "/demo/framesync",
}

// contentSecurityPolicy lets a page load only this node's files and talk
// only to this node (REST, SSE and WebSocket).
const contentSecurityPolicy = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// file is one static file, ready to serve.
type file struct {
	name        string
	content     []byte
	contentType string
	etag        string
}

// UI serves the embedded files. Its zero value is not usable; use New.
type UI struct {
	byPath map[string]*file
}

// New returns the UI with every embedded file loaded.
func New() *UI {
	ui := &UI{byPath: make(map[string]*file)}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(content)
		urlPath, ok := pagePaths[name]
		if !ok {
			urlPath = "/" + name
		}
		ui.byPath[urlPath] = &file{
			name:        name,
			content:     content,
			contentType: mime.TypeByExtension(path.Ext(name)),
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic("web: reading the embedded files: " + err.Error()) // cannot happen: the files are compiled in
	}
	return ui
}

// Paths returns the URL path of every file, sorted.
func (ui *UI) Paths() []string {
	paths := make([]string, 0, len(ui.byPath))
	for p := range ui.byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// ServeHTTP serves the file at r's path, or 404. A file is revalidated on
// every load (by its ETag), so a browser sees a new node's UI at once.
func (ui *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := ui.byPath[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasSuffix(f.name, ".html") {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
	} else {
		// A page of another origin may import hotpot.js from its node
		// (module scripts load with CORS); these files are public.
		h.Set("Access-Control-Allow-Origin", "*")
	}
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.content))
}
