package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
)

func options(tok string) client.Options {
	return client.Options{
		Auth:    credentials{Token: tok, User: "ada"},
		Headers: http.Header{"X-Client-Version": {"1.2"}},
	}
}

func TestAuthAccepted(t *testing.T) {
	for _, always := range []bool{false, true} {
		srv := newServer(always)
		url := et.Serve(t, srv, srv)
		c := et.NewClient(t, options(token))
		hello := et.Record(c, "/", "hello")
		et.Connect(t, c, url+"/?lang=fr")

		got := et.Next(t, hello)
		if got.String(0) != "ada" || got.String(1) != "1.2" || got.String(2) != "fr" {
			t.Fatalf("always=%v: hello = %v, want [ada 1.2 fr]", always, got)
		}
		if got := et.Call(t, c, "/", "whoami").String(0); got != "ada" {
			t.Fatalf("always=%v: whoami = %q", always, got)
		}
	}
}

func TestAuthRefused(t *testing.T) {
	srv := newServer(false)
	url := et.Serve(t, srv, srv)

	c := et.NewClient(t, options("wrong"))
	seen := make(chan *client.ConnectError, 1)
	c.OnConnectError(func(ce *client.ConnectError) { seen <- ce })
	hello := et.Record(c, "/", "hello")

	ctx, cancel := context.WithTimeout(context.Background(), et.Timeout)
	defer cancel()
	err := c.Connect(ctx, url)
	var ce *client.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("Connect = %v, want a *client.ConnectError", err)
	}
	if ce.Message != "not authorized" {
		t.Fatalf("message = %q", ce.Message)
	}
	var data struct {
		Reason string `json:"reason"`
		Retry  *bool  `json:"retry"`
	}
	if err := json.Unmarshal(ce.Data, &data); err != nil || data.Reason != "bad or missing token" || data.Retry == nil || *data.Retry {
		t.Fatalf("data = %s (%v)", ce.Data, err)
	}
	if got := et.Next(t, seen); got.Message != "not authorized" {
		t.Fatalf("connect_error handler got %q", got.Message)
	}
	et.Nothing(t, hello, 0)

	// A refusal without data: the header check.
	c2 := et.NewClient(t, client.Options{Auth: credentials{Token: token}})
	err = c2.Connect(ctx, url)
	if !errors.As(err, &ce) || ce.Message != "X-Client-Version header required" || ce.Data != nil {
		t.Fatalf("Connect without the header = %v (data %s)", err, ce.Data)
	}
	if n := srv.Of("/").Count(); n != 0 {
		t.Fatalf("%d sockets connected after refusals, want 0", n)
	}
}

// With AlwaysConnect the client is connected first, then disconnected by
// the server when the handler refuses.
func TestAuthAlwaysConnect(t *testing.T) {
	srv := newServer(true)
	url := et.Serve(t, srv, srv)

	c := et.NewClient(t, options("wrong"))
	connected := make(chan struct{}, 1)
	gone := make(chan client.DisconnectReason, 1)
	c.OnConnect(func() { connected <- struct{}{} })
	c.OnDisconnect(func(r client.DisconnectReason) { gone <- r })
	ctx, cancel := context.WithTimeout(context.Background(), et.Timeout)
	defer cancel()
	// Connect may see the CONNECT then the DISCONNECT, or both at once.
	_ = c.Connect(ctx, url)
	et.Next(t, connected)
	if r := et.Next(t, gone); r != client.ReasonServerDisconnect {
		t.Fatalf("disconnect reason = %q, want %q", r, client.ReasonServerDisconnect)
	}
}
