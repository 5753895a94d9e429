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
	"github.com/hotpot-rt/hotpot/internal/httpapi"
	"github.com/hotpot-rt/hotpot/internal/node"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

// shutdownTimeout bounds how long a stopping node waits for its agents,
// after --drain-timeout.
const shutdownTimeout = 10 * time.Second

func main() {
	cfg, err := config.Load(os.Args[1:], os.LookupEnv, os.Stderr)
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
	cfg.HTTPAddr = httpLn.Addr().String() // the address other nodes are told of
	broker, err := newBroker(cfg, log)
	if err != nil {
		httpLn.Close()
		if tcpLn != nil {
			tcpLn.Close()
		}
		return err
	}
	nd := node.New(cfg, node.Options{Broker: broker, Log: log})
	nd.Start()
	api := httpapi.New(cfg, nd, log)
	httpSrv := &http.Server{
		Handler:           api.Router(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnState:         api.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 2)
	serving := 1
	go func() { serveErr <- ignoreClosed(httpSrv.Serve(httpLn)) }()
	if tcpLn != nil {
		serving++
		go func() { serveErr <- nd.ServeTCP(tcpLn) }()
	}
	log.Info("hotpot ready", "http", httpLn.Addr().String(), "tcp", addrOf(tcpLn), "tls", tlsConfig != nil, "redis", cfg.Redis != "")

	var failed error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case failed = <-serveErr:
		serving--
	}

	// Stop taking agents, let calls drain, kick the agents and leave the
	// cluster while REST keeps serving; then wait for the last requests.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout+shutdownTimeout)
	defer cancel()
	if tcpLn != nil {
		tcpLn.Close()
	}
	if err := nd.Shutdown(shutdownCtx); err != nil {
		log.Warn("agents did not all close in time", "err", err)
	}
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	for ; serving > 0; serving-- {
		if err := <-serveErr; err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// newBroker connects the node to its cluster: Redis when --redis is set,
// else the in-memory broker of a node alone.
func newBroker(cfg config.Config, log *slog.Logger) (pubsub.Broker, error) {
	if cfg.Redis == "" {
		return pubsub.NewMemory(cfg.NodeID, cfg.EventRetention, cfg.EventRetentionBytes), nil
	}
	return pubsub.NewRedis(pubsub.RedisOptions{
		URL:            cfg.Redis,
		Cluster:        cfg.RedisCluster,
		Prefix:         cfg.RedisPrefix,
		Node:           cfg.NodeID,
		Retention:      cfg.EventRetention,
		RetentionBytes: cfg.EventRetentionBytes,
		Log:            log,
	})
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
