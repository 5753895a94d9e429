package sockets

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// connBufferBytes sizes the read buffer of a WebSocket connection.
// net/http's is 4 KiB; an idle agent should cost as little as it can, and
// larger reads bypass a bufio buffer.
const connBufferBytes = 512

// wsHandshake is an accepted WebSocket handshake: the hijacked
// connection, its reader (holding any bytes the client sent behind the
// request) and the subprotocol chosen, if any.
type wsHandshake struct {
	conn        net.Conn
	br          *bufio.Reader
	subprotocol string
}

// acceptWebSocket answers r's WebSocket handshake (RFC 6455 §4.2, no
// extensions) with 101 and hijacks the connection. The subprotocol is the
// first of subprotocols the client offers; originPatterns are host
// patterns (path.Match, case-insensitive, or scheme://host) an Origin of
// another host must match. On failure it has already answered: 405 for a
// method other than GET, 426 without the Upgrade headers, 400 for a bad
// version or key, 403 for a refused Origin.
func acceptWebSocket(w http.ResponseWriter, r *http.Request, subprotocols, originPatterns []string) (wsHandshake, error) {
	if status, err := checkUpgrade(w, r); err != nil {
		http.Error(w, err.Error(), status)
		return wsHandshake{}, err
	}
	if err := checkOrigin(r, originPatterns); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return wsHandshake{}, err
	}
	h := w.Header()
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Accept", wsproto.AcceptKey(strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))))
	offered := headerTokens(r.Header, "Sec-WebSocket-Protocol")
	var chosen string
	for _, p := range subprotocols {
		if i := slices.IndexFunc(offered, func(o string) bool { return strings.EqualFold(o, p) }); i >= 0 {
			chosen = p
			h.Set("Sec-WebSocket-Protocol", offered[i])
			break
		}
	}
	w.WriteHeader(http.StatusSwitchingProtocols)
	conn, br, err := hijack(w)
	if err != nil {
		return wsHandshake{}, err
	}
	return wsHandshake{conn: conn, br: br, subprotocol: chosen}, nil
}

// checkUpgrade checks that r asks for a WebSocket, and returns the status
// to refuse it with otherwise.
func checkUpgrade(w http.ResponseWriter, r *http.Request) (int, error) {
	if !r.ProtoAtLeast(1, 1) {
		return http.StatusUpgradeRequired, fmt.Errorf("a WebSocket handshake needs HTTP/1.1, not %s", r.Proto)
	}
	if !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return http.StatusUpgradeRequired, errors.New("this is a WebSocket endpoint: ask for Connection: Upgrade, Upgrade: websocket")
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, fmt.Errorf("a WebSocket handshake is a GET, not %s", r.Method)
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return http.StatusBadRequest, fmt.Errorf("WebSocket version %q is not supported: only 13", v)
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return http.StatusBadRequest, errors.New("a WebSocket handshake needs one Sec-WebSocket-Key")
	}
	if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(key) != 16 {
		return http.StatusBadRequest, fmt.Errorf("Sec-WebSocket-Key %q is not 16 bytes in base64", keys[0])
	}
	return 0, nil
}

// checkOrigin accepts a request without Origin, one from its own host, or
// one whose Origin matches a pattern.
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return fmt.Errorf("Origin %q is not a URL", origin)
	}
	if strings.EqualFold(r.Host, u.Host) {
		return nil
	}
	for _, pattern := range patterns {
		target := u.Host
		if strings.Contains(pattern, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(target)); ok {
			return nil
		}
	}
	return fmt.Errorf("Origin %q is not allowed for host %q (see --allowed-origins)", u.Host, r.Host)
}

// headerTokens returns the comma-separated tokens of every key header.
func headerTokens(h http.Header, key string) []string {
	var tokens []string
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			tokens = append(tokens, strings.TrimSpace(t))
		}
	}
	return tokens
}

// hasToken reports whether a key header has token, case-insensitively.
func hasToken(h http.Header, key, token string) bool {
	return slices.ContainsFunc(headerTokens(h, key), func(t string) bool { return strings.EqualFold(t, token) })
}

// hijack takes over w's connection once the answer so far is written.
// The reader is net/http's when the client has already sent bytes past
// the request, which it holds; else a small one of its own.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.Reader, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := brw.Reader
	if br.Buffered() == 0 {
		br = bufio.NewReaderSize(conn, connBufferBytes)
	}
	return conn, br, nil
}
