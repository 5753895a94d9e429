package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// WithTLS makes the server speak only TLS, with a certificate for
// 127.0.0.1 signed by a certificate authority of its own (CAFile); URL
// then returns a rediss:// URL. Clients need not present certificates.
func WithTLS() Option {
	return func(s *Server) { s.tls = true }
}

// CAFile returns the PEM file of the authority that signed a WithTLS
// server's certificate, for clients to trust (SSL_CERT_FILE, say).
func (s *Server) CAFile() string { return filepath.Join(s.dir, "ca.pem") }

// tlsFiles returns the server's certificate and key files.
func (s *Server) tlsFiles() (cert, key string) {
	return filepath.Join(s.dir, "server.pem"), filepath.Join(s.dir, "server-key.pem")
}

// writeCertificates creates the authority and the server's certificate in
// the server's directory.
func (s *Server) writeCertificates() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	certFile, keyFile := s.tlsFiles()
	for file, block := range map[string]*pem.Block{
		s.CAFile(): {Type: "CERTIFICATE", Bytes: caDER},
		certFile:   {Type: "CERTIFICATE", Bytes: serverDER},
		keyFile:    {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
	}
	return nil
}

// tlsArgs returns redis-server's arguments to serve TLS on port.
func (s *Server) tlsArgs(port string) []string {
	certFile, keyFile := s.tlsFiles()
	return []string{
		"--port", "0", "--tls-port", port,
		"--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", s.CAFile(), "--tls-auth-clients", "no",
	}
}

// clientTLS returns the TLS configuration that trusts the server.
func (s *Server) clientTLS() (*tls.Config, error) {
	pemBytes, err := os.ReadFile(s.CAFile())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &tls.Config{RootCAs: pool}, nil
}
