// Command basic shows the everyday server API: connect and disconnect
// handlers, an event whose return value becomes the client's
// acknowledgement, an emit to the sender only, a broadcast to every
// client, and Send, the "message" event. Run it from /work/main/examples
// with `go run ./basic` (PORT picks the port, default 3000) and connect
// any Socket.IO client to http://127.0.0.1:3000.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/siogate/siogate/gateway"
)

func main() {
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("basic example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newServer()))
}

// newServer builds the example's server; it is also the http.Handler.
func newServer() *gateway.Server {
	srv := gateway.NewServer(gateway.Config{})
	main := srv.Of("/")

	// A client joins: greet it alone, then tell the others. Emits made
	// here reach the client right after its connection is accepted.
	main.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		if err := s.Emit("welcome", s.ID()); err != nil {
			return err
		}
		return s.Broadcast().Emit(context.Background(), "joined", s.ID())
	})

	// A client leaves: tell whoever is still here, and why it left.
	main.OnDisconnect(func(s *gateway.Socket, reason gateway.DisconnectReason) {
		_ = srv.Emit(context.Background(), "left", s.ID(), string(reason))
	})

	// "add" answers through the acknowledgement: the values returned are
	// its arguments when the client asked for one.
	main.On("add", func(_ *gateway.Socket, e *gateway.Event) []any {
		var a, b float64
		if e.Args.Decode(0, &a) != nil || e.Args.Decode(1, &b) != nil {
			return []any{nil, "add needs two numbers"}
		}
		return []any{a + b}
	})

	// "echo" goes back to the sender only.
	main.On("echo", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = s.Emit("echo", e.Args.Items()...)
		return nil
	})

	// "shout" goes to every client of the namespace, the sender included.
	main.On("shout", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = srv.Emit(context.Background(), "shout", s.ID(), e.Args.String(0))
		return nil
	})

	// "message" is what Send emits, on both sides.
	main.On("message", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = s.Send("got: " + e.Args.String(0))
		return nil
	})
	return srv
}
