package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/siogate/siogate/gateway"
)

// healthChecker is implemented by brokers that can say whether they reach
// their server.
type healthChecker interface {
	Health(ctx context.Context) error
}

// mountHealth serves /healthz (the process answers), /readyz (ready for
// new clients: not draining and the broker reachable) and /status (counts
// per namespace, JSON).
func mountHealth(srv *gateway.Server, mux *http.ServeMux, adapterName string, broker io.Closer) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if srv.Draining() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if hc, ok := broker.(healthChecker); ok {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := hc.Health(ctx); err != nil {
				http.Error(w, "broker unreachable: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := struct {
			Connections int            `json:"connections"`
			Sockets     int            `json:"sockets"`
			Namespaces  map[string]int `json:"namespaces"`
			Adapter     string         `json:"adapter"`
			Draining    bool           `json:"draining"`
		}{Connections: srv.Engine().Count(), Sockets: srv.Of("/").Count(), Namespaces: map[string]int{}, Adapter: adapterName, Draining: srv.Draining()}
		for _, ns := range srv.Namespaces() {
			st.Namespaces[ns.Name()] = ns.Count()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
}
