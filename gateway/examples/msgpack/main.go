// Command msgpack serves a Socket.IO gateway speaking the msgpack parser
// (socket.io-msgpack-parser on the JavaScript side, msgpackparser.Parser
// in Go), for clients configured with the same parser:
//
//   - "/": "welcome" emitted on connect with the auth payload and the
//     socket id; "echo" acknowledged with "echoed" and its arguments;
//     "ask" calls the client's "question" and acknowledges with its answer;
//     "join" puts the socket in a room; "shout" broadcasts "news" to one.
//
//   - "/chat": "hello" acknowledged with the namespace and its arguments.
//
//   - "/private": every connection refused with data.
//
//     go run ./examples/msgpack        # listens on 127.0.0.1:$PORT (3000)
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/msgpackparser"
)

func main() {
	srv := gateway.NewServer(gateway.Config{Parser: msgpackparser.Parser{}, AsyncHandlers: true})
	root := srv.Of("/")
	root.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		return s.Emit("welcome", auth, s.ID())
	})
	root.On("echo", func(s *gateway.Socket, e *gateway.Event) []any {
		return append([]any{"echoed"}, e.Args.Items()...)
	})
	root.On("ask", func(s *gateway.Socket, e *gateway.Event) []any {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := s.EmitWithAck(ctx, "question", e.Args.Items()...)
		if err != nil {
			return []any{"error", err.Error()}
		}
		return res.Items()
	})
	root.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		s.Join(e.Args.String(0))
		return []any{true}
	})
	root.On("shout", func(s *gateway.Socket, e *gateway.Event) []any {
		err := srv.To(e.Args.String(0)).Emit(context.Background(), "news", e.Args.Slice(1).Items()...)
		return []any{err == nil}
	})
	srv.Of("/chat").On("hello", func(s *gateway.Socket, e *gateway.Event) []any {
		return append([]any{s.Namespace().Name()}, e.Args.Items()...)
	})
	srv.Of("/private").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		return &gateway.ConnectError{Message: "not allowed", Data: map[string]any{"code": 403}}
	})

	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	addr := "127.0.0.1:" + port
	log.Printf("msgpack gateway listening on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, srv))
}
