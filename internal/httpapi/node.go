package httpapi

import (
	"net/http"
	"time"

	"github.com/hotpot-rt/hotpot/api"
)

// ListNodes lists the cluster's nodes: this one, when alone.
func (a *API) ListNodes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, NodeList{Items: []Node{{
		ID:            a.cfg.NodeID,
		Address:       a.cfg.HTTPAddr,
		Agents:        a.socks.Len(),
		StartedAt:     a.startedAt.UTC(),
		LastHeartbeat: time.Now().UTC(),
	}}})
}

// Healthz answers while the process serves HTTP.
func (a *API) Healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

// Readyz answers 200 while the node takes work, 503 once it shuts down.
func (a *API) Readyz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-a.stopping:
		writeProblem(w, http.StatusServiceUnavailable, "the node is shutting down", Problem{})
	default:
		writeJSON(w, http.StatusOK, Health{Status: "ok"})
	}
}

// Metrics serves the Prometheus metrics.
func (a *API) Metrics(w http.ResponseWriter, r *http.Request) {
	a.metrics.Handler().ServeHTTP(w, r)
}

// OpenapiSpec serves api/openapi.yaml.
func (a *API) OpenapiSpec(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(api.Spec())
}
