package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
)

// buffer is an io.Writer safe for the server's concurrent logging.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// records decodes the JSON lines written so far.
func (b *buffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.b.String()) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// jsonLogger writes JSON records to w with a "layer" attribute, which
// tells the layers apart even though both write to the same buffer.
func jsonLogger(w *buffer, layer string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h).With("layer", layer)
}

// session connects a client (polling upgraded to websocket), sends an
// event, makes a handler fail, and disconnects.
func session(t *testing.T, sio, eio *slog.Logger) {
	srv := newServer(sio, eio)
	url := et.Serve(t, srv, srv)
	c := et.Dial(t, url, client.Options{})
	if got := et.Call(t, c, "/", "hello").String(0); got != "hi" {
		t.Fatalf("hello = %q", got)
	}
	for deadline := time.Now().Add(et.Timeout); c.Transport() != "websocket"; {
		if time.Now().After(deadline) {
			t.Fatal("the client did not upgrade to websocket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = c.Emit("fail")
	et.Call(t, c, "/", "hello") // the failing handler has run
	c.Shutdown()
	c.Wait()
	// The server sees the close a moment later.
	for deadline := time.Now().Add(et.Timeout); srv.Of("/").Count() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
}

func find(recs []map[string]any, layer, msgPrefix string) map[string]any {
	for _, r := range recs {
		if r["layer"] == layer && strings.HasPrefix(r["msg"].(string), msgPrefix) {
			return r
		}
	}
	return nil
}

func TestLoggersOn(t *testing.T) {
	var out buffer
	session(t, jsonLogger(&out, "socketio"), jsonLogger(&out, "engineio"))
	recs := out.records(t)
	for _, r := range recs {
		t.Logf("%v", r)
	}

	// Engine.IO: the upgrade and the close of the session.
	if find(recs, "engineio", "engineio: upgraded to websocket") == nil {
		t.Errorf("no Engine.IO upgrade record in %v", recs)
	}
	if r := find(recs, "engineio", "engineio: session closed"); r == nil || r["sid"] == "" {
		t.Errorf("no Engine.IO close record in %v", recs)
	}
	// Socket.IO: the recovered panic, at error level with its event.
	r := find(recs, "socketio", "gateway: event handler panicked")
	if r == nil || r["level"] != "ERROR" || r["event"] != "fail" || r["panic"] != "something went wrong" {
		t.Errorf("no Socket.IO panic record in %v", recs)
	}
}

func TestLoggersOff(t *testing.T) {
	// nil loggers: nothing is written anywhere (slog's default logger
	// is not used either).
	var out buffer
	prev := slog.Default()
	slog.SetDefault(jsonLogger(&out, "default"))
	defer slog.SetDefault(prev)
	session(t, nil, nil)
	if recs := out.records(t); len(recs) != 0 {
		t.Fatalf("logs written with nil loggers: %v", recs)
	}
}

func TestOneLayerOnly(t *testing.T) {
	var out buffer
	session(t, nil, jsonLogger(&out, "engineio"))
	recs := out.records(t)
	if len(recs) == 0 {
		t.Fatal("no Engine.IO records")
	}
	for _, r := range recs {
		if r["layer"] != "engineio" || !strings.HasPrefix(r["msg"].(string), "engineio:") {
			t.Fatalf("record from the silenced layer: %v", r)
		}
	}
}
