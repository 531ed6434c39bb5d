// Command floor runs the floor fixture: a WebSocket-only gws server that
// answers siobench's event contract by rewriting bytes, with no Socket.IO
// implementation, to show the least a server on gws can cost.
//
//	floor --addr 127.0.0.1:3100
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/siogate/siogate/bench"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3100", "listen address")
	flag.Parse()
	hs := &http.Server{Addr: *addr, Handler: bench.NewFloor(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	fmt.Fprintln(os.Stderr, "floor listening on", *addr)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
}
