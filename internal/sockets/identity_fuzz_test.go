package sockets

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzRemoteAddr feeds remoteAddr any X-Forwarded-For and X-Real-IP from
// a trusted proxy: it never panics, and answers the peer, the X-Real-IP
// address, or an X-Forwarded-For address that is not a trusted proxy.
func FuzzRemoteAddr(f *testing.F) {
	for _, seed := range [][2]string{
		{"203.0.113.7, 10.0.0.2", ""},
		{"[2001:db8::1]:4711,10.0.0.9", "198.51.100.1"},
		{"garbage,,  ,10.0.0.1", "not-an-ip"},
		{"", "203.0.113.9:80"},
	} {
		f.Add(seed[0], seed[1])
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	f.Fuzz(func(t *testing.T, xff, realIP string) {
		r := &http.Request{RemoteAddr: "127.0.0.1:5000", Header: http.Header{}}
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Real-IP", realIP)
		got := remoteAddr(r, trusted)
		if got == r.RemoteAddr {
			return
		}
		addr, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("remoteAddr = %q: neither the peer nor an address", got)
		}
		if real, err := netip.ParseAddr(hostOf(strings.TrimSpace(realIP))); err == nil && real == addr {
			return // what the trusted proxy says it saw
		}
		if isTrusted(addr.String(), trusted) {
			t.Fatalf("remoteAddr = %q: an X-Forwarded-For hop that is a trusted proxy, not the client", got)
		}
	})
}
