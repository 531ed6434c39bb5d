// Command conformance serves the setup the official protocol test suites
// expect: a Socket.IO server at /socket.io/ (namespaces "/" and "/custom")
// and a bare Engine.IO echo server at /engine.io/, with pingInterval 300ms,
// pingTimeout 200ms, maxPayload 1,000,000, connectTimeout 1s and any origin.
//
//	go run ./examples/conformance        # listens on 127.0.0.1:$PORT (3000)
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
)

// echo is an Engine.IO handler that sends every message back.
type echo struct{}

func (echo) OnOpen(*engineio.Session) {}

func (echo) OnMessage(s *engineio.Session, data []byte, binary bool) {
	if binary {
		_ = s.Send(engineio.Frame{Data: data, Binary: true})
		return
	}
	_ = s.Send(engineio.MessageFrame(data))
}

func (echo) OnClose(*engineio.Session, engineio.Reason) {}

func main() {
	engineCfg := engineio.Config{
		PingInterval:       300 * time.Millisecond,
		PingTimeout:        200 * time.Millisecond,
		MaxPayload:         1_000_000,
		CORSAllowedOrigins: []string{"*"},
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", engineio.NewServer(engineCfg, echo{}))

	srv := gateway.NewServer(gateway.Config{
		Engine:         engineCfg,
		ConnectTimeout: time.Second,
		Handler:        mux,
	})
	greet := func(s *gateway.Socket, auth json.RawMessage) error {
		return s.Emit("auth", auth)
	}
	srv.Of("/").OnConnect(greet)
	srv.Of("/").On("message", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = s.Emit("message-back", e.Args.Items()...)
		return nil
	})
	srv.Of("/").On("message-with-ack", func(s *gateway.Socket, e *gateway.Event) []any {
		return e.Args.Items()
	})
	srv.Of("/custom").OnConnect(greet)

	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	addr := "127.0.0.1:" + port
	log.Printf("conformance server on http://%s (Socket.IO at /socket.io/, Engine.IO echo at /engine.io/)", addr)
	log.Fatal(http.ListenAndServe(addr, srv))
}
