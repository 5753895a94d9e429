package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/hotpot-rt/hotpot/api"
)

// ListNodes lists the cluster's live nodes, as their heartbeats tell.
func (a *API) ListNodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := a.node.Nodes(r.Context())
	if err != nil {
		writeError(w, err, about{})
		return
	}
	list := NodeList{Items: make([]Node, len(nodes))}
	for i, n := range nodes {
		list.Items[i] = Node{
			ID:            n.ID,
			Address:       n.Address,
			Agents:        n.Agents,
			StartedAt:     n.StartedAt.UTC(),
			LastHeartbeat: n.LastHeartbeat.UTC(),
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// Healthz answers while the process serves HTTP.
func (a *API) Healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

// Readyz answers 200 while the node takes work; 503 once it shuts down,
// and while its cluster (Redis) cannot be reached.
func (a *API) Readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := a.node.Ready(ctx); err != nil {
		writeError(w, err, about{})
		return
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

// readyTimeout bounds how long /readyz waits for Redis to answer.
const readyTimeout = time.Second

// Metrics serves the Prometheus metrics.
func (a *API) Metrics(w http.ResponseWriter, r *http.Request) {
	a.metrics.Handler().ServeHTTP(w, r)
}

// OpenapiSpec serves api/openapi.yaml.
func (a *API) OpenapiSpec(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(api.Spec())
}
