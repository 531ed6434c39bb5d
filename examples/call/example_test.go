package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
	"github.com/siogate/siogate/gateway"
)

// answering is a client that answers the server's questions.
func answering(t *testing.T, url string) (*client.Client, <-chan client.Args) {
	c := et.NewClient(t, client.Options{Transports: []string{"websocket"}})
	c.On("name?", func(*client.Event) []any { return []any{"ada"} })
	c.On("question", func(e *client.Event) []any {
		if e.Args.String(0) == "6*7?" {
			return []any{"42"}
		}
		return []any{"no idea"}
	})
	heard := et.Record(c, "/", "heard")
	et.Connect(t, c, url)
	return c, heard
}

func TestCall(t *testing.T) {
	srv := newServer(true)
	url := et.Serve(t, srv, srv)
	ns := srv.Of("/")

	good, heard := answering(t, url)
	// A client with no handler for the events never acknowledges them.
	silent := et.NewClient(t, client.Options{Transports: []string{"websocket"}})
	silentHeard := et.Record(silent, "/", "heard")
	et.Connect(t, silent, url)

	// EmitWithCallback: the callback got the client's answer.
	if got := et.String(t, et.Next(t, heard), 0); got != "ada" {
		t.Fatalf("heard = %q, want ada", got)
	}
	et.Nothing(t, silentHeard, 100*time.Millisecond)

	// Call from outside any handler.
	ctx := context.Background()
	if got, err := ask(ctx, ns, good.SID("/"), "6*7?"); err != nil || got != "42" {
		t.Fatalf("ask = %q, %v; want 42", got, err)
	}

	// A client that does not answer: ErrAckTimeout after the timeout.
	start := time.Now()
	_, err := ask(ctx, ns, silent.SID("/"), "6*7?")
	if !errors.Is(err, gateway.ErrAckTimeout) {
		t.Fatalf("ask a silent client: %v, want ErrAckTimeout", err)
	}
	if d := time.Since(start); d < answerTimeout-50*time.Millisecond || d > answerTimeout+time.Second {
		t.Fatalf("timed out after %v, want about %v", d, answerTimeout)
	}
	// An unknown sid is an error of its own.
	if _, err := ask(ctx, ns, "nobody", "6*7?"); !errors.Is(err, gateway.ErrUnknownSocket) {
		t.Fatalf("ask an unknown sid: %v, want ErrUnknownSocket", err)
	}

	// AsyncHandlers: a handler calls the client whose event it handles.
	if got := et.Call(t, good, "/", "quiz", "6*7?"); got.String(0) != "42" {
		t.Fatalf("quiz = %v, want [42]", got)
	}
}

// Without AsyncHandlers, the handler blocks the connection's reader, so
// the client's answer cannot be read before the Call times out.
func TestCallFromSyncHandlerTimesOut(t *testing.T) {
	srv := newServer(false)
	url := et.Serve(t, srv, srv)
	good, _ := answering(t, url)
	got := et.Call(t, good, "/", "quiz", "6*7?")
	if got.Raw(0) == nil || string(got.Raw(0)) != "null" || !strings.HasPrefix(got.String(1), gateway.ErrAckTimeout.Error()) {
		t.Fatalf("quiz with sync handlers = %v, want [null %q]", got, gateway.ErrAckTimeout)
	}
}
