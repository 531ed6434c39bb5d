package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
)

func TestSessions(t *testing.T) {
	srv := newServer()
	base := et.Serve(t, srv, srv)
	ada := et.Dial(t, base, client.Options{Auth: map[string]string{"user": "ada"}})
	anon := et.Dial(t, base, client.Options{})

	// The session saved at connect, read in a handler.
	if got := et.Call(t, ada, "/", "whoami").String(0); got != "ada" {
		t.Fatalf("whoami = %q", got)
	}
	if got := et.Call(t, anon, "/", "whoami").String(0); got != "anonymous" {
		t.Fatalf("whoami without auth = %q", got)
	}

	// Concurrent UpdateSession calls lose no update.
	const posts = 40
	var wg sync.WaitGroup
	errs := make(chan error, posts)
	for range posts {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), et.Timeout)
			defer cancel()
			if _, err := ada.EmitWithAck(ctx, "post"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// GetSession by sid, from an HTTP handler.
	status, ctype, body := et.Get(t, base+"/session?sid="+url.QueryEscape(ada.SID("/")))
	if status != http.StatusOK || ctype != "application/json" {
		t.Fatalf("GET /session: %d %s %s", status, ctype, body)
	}
	var session struct {
		User  string `json:"user"`
		Posts int    `json:"posts"`
	}
	if err := json.Unmarshal([]byte(body), &session); err != nil {
		t.Fatal(err)
	}
	if session.User != "ada" || session.Posts != posts {
		t.Fatalf("session = %+v, want user ada with %d posts", session, posts)
	}

	// Sessions are per socket.
	if _, _, body := et.Get(t, base+"/session?sid="+url.QueryEscape(anon.SID("/"))); body != "{\"posts\":0,\"user\":\"anonymous\"}\n" {
		t.Fatalf("anonymous session = %s", body)
	}

	// A session lives as long as its socket.
	sid := ada.SID("/")
	ada.Shutdown()
	ada.Wait()
	for try := 0; ; try++ {
		status, _, _ = et.Get(t, base+"/session?sid="+url.QueryEscape(sid))
		if status == http.StatusNotFound {
			break
		}
		if try == 100 {
			t.Fatalf("GET /session after disconnect: %d, want 404", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
