// Package httpapi owns the node's HTTP surface: the router that serves
// WebSocket agents, the REST API and the health endpoints on one listener.
package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// NewRouter returns the handler of the --http listener. WebSocket clients
// connect at /ws, or with an upgrade request at / (as the seed's
// ws://127.0.0.1:8848 did).
func NewRouter(socks *sockets.Server, nodeID string) http.Handler {
	r := chi.NewRouter()
	r.Get("/ws", socks.ServeWS)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			socks.ServeWS(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hotpot node %s: connect a WebSocket client to ws://%s/ws\n", nodeID, r.Host)
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return r
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for _, token := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(token), "websocket") {
				return true
			}
		}
	}
	return false
}
