package httpapi

import (
	"net"
	"net/http"
)

// ConnState is the HTTP server's connection hook: it counts the open
// HTTP connections (an upgraded WebSocket leaves the count, and counts in
// --max-conns instead) and closes at once a new connection beyond
// --max-http-conns, before anything is read from it. It is safe for
// concurrent use.
func (a *API) ConnState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		if a.httpConns.Add(1) > int64(a.cfg.MaxHTTPConns) {
			a.metrics.HTTPConnsRefused.Inc()
			c.Close() // net/http reports StateClosed next, which gives it back
		}
	case http.StateHijacked, http.StateClosed:
		a.httpConns.Add(-1)
	default:
		return
	}
	a.metrics.HTTPConns.Set(float64(a.httpConns.Load()))
}
