// Package httpapi owns the node's HTTP surface: WebSocket agents, the REST
// API generated from api/openapi.yaml, the SSE event stream, health and
// metrics, all on one listener.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/hotpot-rt/hotpot/internal/auth"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/metrics"
	"github.com/hotpot-rt/hotpot/internal/node"
	"github.com/hotpot-rt/hotpot/web"
)

// ssePingInterval is how often an idle SSE stream gets a ": ping" comment.
const ssePingInterval = 15 * time.Second

// API implements the generated ServerInterface for one node, which
// answers for the whole cluster.
type API struct {
	cfg     config.Config
	node    *node.Node
	metrics *metrics.Metrics
	log     *slog.Logger
	// httpConns counts the open HTTP connections; see ConnState.
	httpConns atomic.Int64
	// bodyTimeout is bodyTimeout outside tests.
	bodyTimeout time.Duration
	// pingInterval is ssePingInterval outside tests.
	pingInterval time.Duration
}

var _ ServerInterface = (*API)(nil)

// New returns the API of nd.
func New(cfg config.Config, nd *node.Node, logger *slog.Logger) *API {
	return &API{
		cfg:          cfg,
		node:         nd,
		metrics:      nd.Metrics(),
		log:          logger,
		bodyTimeout:  bodyTimeout,
		pingInterval: ssePingInterval,
	}
}

// publicPaths answer without the API key.
var publicPaths = map[string]bool{"/healthz": true, "/readyz": true, "/openapi.yaml": true}

// Router returns the handler of the --http listener. WebSocket clients
// connect at /ws, or with an upgrade request at / (as the seed's
// ws://127.0.0.1:8848 did); they authenticate with their own tokens. A
// browser gets the web UI at / and its other pages and files. The REST
// API and SSE stream need the API key, when one is set, except on
// /healthz, /readyz and /openapi.yaml; so do the profiles at
// /debug/pprof/, served only with --pprof. The UI's files need no key:
// the UI asks for it.
func (a *API) Router() http.Handler {
	r := chi.NewRouter()
	r.Get("/ws", a.node.ServeWS)
	ui := web.New()
	for _, p := range ui.Paths() {
		if p != "/" { // below: / is also where a WebSocket may upgrade
			r.Get(p, ui.ServeHTTP)
		}
	}
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			a.node.ServeWS(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	})
	if a.cfg.Pprof {
		r.With(a.requireKey).Mount("/debug", middleware.Profiler())
	}
	HandlerWithOptions(a, ChiServerOptions{
		BaseRouter: r.With(a.requireKey), // registers the API's routes on r
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			writeProblem(w, http.StatusBadRequest, paramProblem(err), Problem{})
		},
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such path: see /openapi.yaml for the API", Problem{})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path, Problem{})
	})
	return r
}

// requireKey refuses requests without the API key, when one is set.
func (a *API) requireKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.APIKey != "" && !publicPaths[r.URL.Path] && !auth.KeyMatches(r, a.cfg.APIKey) {
			dropConnection(w) // answer without waiting for a body nobody will read
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotpot"`)
			writeProblem(w, http.StatusUnauthorized, "missing or wrong API key: send Authorization: Bearer <key>", Problem{})
			return
		}
		next.ServeHTTP(w, r)
	})
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
