package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/siogate/siogate/gateway/metrics"
)

// newMetrics returns the node's metrics and the handler that serves them
// when --metrics-addr is set (nil, nil otherwise): the gateway's, with the
// Go runtime's and the process's, on a registry of their own.
func newMetrics(o options) (*metrics.Metrics, prometheus.Registerer, http.Handler, error) {
	if o.metricsAddr == "" {
		return nil, nil, nil, nil
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, nil, err
	}
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	return m, reg, mux, nil
}

// metricsServer is the HTTP server of the metrics listener, apart from
// the clients' so that the endpoint need not be exposed to them.
func metricsServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
}

// parseLevel reads a log level flag.
func parseLevel(flag, s string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("bad %s: %w", flag, err)
	}
	return level, nil
}
