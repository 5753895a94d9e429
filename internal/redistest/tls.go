package redistest

import (
	"crypto/tls"
)

// WithTLS makes the server speak only TLS, with a certificate for
// 127.0.0.1 signed by a certificate authority of its own (CAFile); URL
// then returns a rediss:// URL. Clients need not present certificates.
func WithTLS() Option {
	return func(s *Server) { s.tls = true }
}

// CAFile returns the PEM file of the authority that signed a WithTLS
// server's certificate, for clients to trust (SSL_CERT_FILE, say).
func (s *Server) CAFile() string { return s.certs.CA }

// tlsArgs returns redis-server's arguments to serve TLS on port.
func (s *Server) tlsArgs(port string) []string {
	return []string{
		"--port", "0", "--tls-port", port,
		"--tls-cert-file", s.certs.Cert, "--tls-key-file", s.certs.Key,
		"--tls-ca-cert-file", s.certs.CA, "--tls-auth-clients", "no",
	}
}

// clientTLS returns the TLS configuration that trusts the server.
func (s *Server) clientTLS() (*tls.Config, error) {
	pool, err := s.certs.Pool()
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool}, nil
}
