// Command background shows a background task, python's
// start_background_task and sleep in Go: a goroutine with a context and a
// time.Ticker emits "tick" to every client every 100 ms. On SIGINT or
// SIGTERM the context is canceled: the ticker stops, Shutdown disconnects
// the clients (reason "server shutting down") and the HTTP server closes.
// Run it from /work/main/examples with `go run ./background` (PORT picks
// the port, default 3000) and stop it with Ctrl-C.
package main

import (
	"cmp"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/siogate/siogate/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:"+cmp.Or(os.Getenv("PORT"), "3000"))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("background example on http://%s", ln.Addr())
	err = run(ctx, ln, func(sid string, reason gateway.DisconnectReason) {
		log.Printf("%s left: %s", sid, reason)
	})
	if err != nil {
		log.Fatal(err)
	}
}

// tickEvery is the period of the background task.
const tickEvery = 100 * time.Millisecond

// shutdownTimeout bounds the graceful shutdown.
const shutdownTimeout = 5 * time.Second

// run serves the example on ln until ctx is canceled, then shuts down and
// returns once the background task has stopped and the clients are gone.
// left, if not nil, hears every disconnection.
func run(ctx context.Context, ln net.Listener, left func(sid string, reason gateway.DisconnectReason)) error {
	srv := gateway.NewServer(gateway.Config{})
	if left != nil {
		srv.Of("/").OnDisconnect(func(s *gateway.Socket, reason gateway.DisconnectReason) {
			left(s.ID(), reason)
		})
	}

	// The background task: it lives until ctx is done.
	var tasks sync.WaitGroup
	tasks.Go(func() { ticker(ctx, srv) })

	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	select {
	case err := <-served:
		return err // the listener failed
	case <-ctx.Done():
	}
	tasks.Wait() // the ticker saw ctx too

	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if herr := hs.Shutdown(sctx); herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		err = errors.Join(err, herr)
	}
	return err
}

// ticker emits an increasing count every tickEvery until ctx is done.
func ticker(ctx context.Context, srv *gateway.Server) {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = srv.Emit(context.Background(), "tick", n)
		}
	}
}
