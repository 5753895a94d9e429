// Command server runs one hotpot node: WebSocket and TCP agents on one
// side, web services over HTTP on the other. Flags and HOTPOT_* variables
// are listed by -h.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/httpapi"
	"github.com/hotpot-rt/hotpot/internal/metrics"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// shutdownTimeout bounds how long a stopping node waits for its agents,
// after --drain-timeout.
const shutdownTimeout = 10 * time.Second

func main() {
	cfg, err := config.Load(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hotpot:", err)
		os.Exit(2)
	}
	log := cfg.Logger(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("hotpot stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully: listeners stop
// accepting, every agent gets Kicked "shutdown", and run returns.
func run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("loading TLS key pair: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	httpLn, err := listen(cfg.HTTPAddr, tlsConfig)
	if err != nil {
		return err
	}
	var tcpLn net.Listener
	if cfg.TCPAddr != "" {
		if tcpLn, err = listen(cfg.TCPAddr, tlsConfig); err != nil {
			httpLn.Close()
			return err
		}
	}

	if cfg.JWTSecret == "" {
		log.Warn("no --jwt-secret: anonymous dev mode, any client may pick any agent id")
	}
	eventLog := events.NewLog(cfg.EventRetention)
	m := metrics.New(eventLog.Subscribers)
	socks := sockets.New(cfg, sockets.Options{Log: log, Sink: eventLog.Append, Metrics: m})
	stopping := make(chan struct{})
	api := httpapi.New(cfg, socks, eventLog, m, log, stopping)
	httpSrv := &http.Server{
		Handler:           api.Router(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 2)
	serving := 1
	go func() { serveErr <- ignoreClosed(httpSrv.Serve(httpLn)) }()
	if tcpLn != nil {
		serving++
		go func() { serveErr <- socks.ServeTCP(tcpLn) }()
	}
	log.Info("hotpot ready", "http", httpLn.Addr().String(), "tcp", addrOf(tcpLn), "tls", tlsConfig != nil)

	var failed error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case failed = <-serveErr:
		serving--
	}

	// Stop accepting, end SSE streams, let calls drain, kick the agents,
	// then wait for the last HTTP requests.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout+shutdownTimeout)
	defer cancel()
	close(stopping)
	if tcpLn != nil {
		tcpLn.Close()
	}
	httpDone := make(chan error, 1)
	go func() { httpDone <- httpSrv.Shutdown(shutdownCtx) }()
	if err := socks.Shutdown(shutdownCtx); err != nil {
		log.Warn("agents did not all close in time", "err", err)
	}
	if err := <-httpDone; err != nil {
		log.Warn("http shutdown", "err", err)
	}
	api.Wait()
	for ; serving > 0; serving-- {
		if err := <-serveErr; err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

func listen(addr string, tlsConfig *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	return ln, nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
