// Command classns shows class-based namespaces: the /chat namespace is a
// Go type embedding gateway.ClassNamespace whose methods are its handlers
// (OnConnect, OnDisconnect, On<Event> for the snake_case event, CatchAll
// for the rest), registered with Server.Register; a function handler set
// with On wins over a method for the same event. A catch-all namespace,
// Of("*"), serves every other namespace a client asks for. Run it from
// /work/main/examples with `go run ./classns` (PORT picks the port,
// default 3000).
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
	srv, err := newServer()
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("classns example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, srv))
}

// Chat handles the /chat namespace. One value serves every client: state
// for one client belongs in its session.
type Chat struct {
	gateway.ClassNamespace
}

// OnConnect greets the client and keeps its nickname in its session.
func (c *Chat) OnConnect(s *gateway.Socket, auth json.RawMessage) error {
	var a struct {
		Nick string `json:"nick"`
	}
	_ = json.Unmarshal(auth, &a)
	s.SaveSession(map[string]any{"nick": cmp.Or(a.Nick, s.ID())})
	return s.Emit("ready", c.Namespace().Name())
}

// OnDisconnect tells the remaining clients who left. Emit is the
// embedded helper: it broadcasts on /chat.
func (c *Chat) OnDisconnect(s *gateway.Socket, _ gateway.DisconnectReason) {
	_ = c.Emit(context.Background(), "gone", nick(s))
}

// OnSendMessage handles "send_message": everyone on /chat gets it.
func (c *Chat) OnSendMessage(s *gateway.Socket, e *gateway.Event) []any {
	_ = c.Emit(context.Background(), "new_message", nick(s), e.Args.String(0))
	return []any{"sent"}
}

// OnPing handles "ping", unless a function handler replaces it (see
// newServer).
func (c *Chat) OnPing(*gateway.Socket, *gateway.Event) []any {
	return []any{"pong from the method"}
}

// CatchAll handles every event of /chat without a method.
func (c *Chat) CatchAll(_ *gateway.Socket, e *gateway.Event) []any {
	return []any{"no handler for " + e.Name}
}

func nick(s *gateway.Socket) string {
	n, _ := s.GetSession()["nick"].(string)
	return n
}

// newServer builds the example's server; it is also the http.Handler.
func newServer() (*gateway.Server, error) {
	srv := gateway.NewServer(gateway.Config{})
	chat, err := srv.Register("/chat", &Chat{})
	if err != nil {
		return nil, err
	}
	// A function handler wins over the OnPing method.
	chat.On("ping", func(*gateway.Socket, *gateway.Event) []any {
		return []any{"pong from the function"}
	})

	// The catch-all namespace accepts any namespace and answers every
	// event of the namespaces without handlers of their own, "/" included.
	others := srv.Of("*")
	others.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		return s.Emit("ready", s.Namespace().Name())
	})
	others.On("*", func(s *gateway.Socket, e *gateway.Event) []any {
		return []any{s.Namespace().Name(), e.Name}
	})
	return srv, nil
}
