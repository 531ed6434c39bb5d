package engineio_test

// The log of refused requests: one line per refusal with its cause and
// remote address, at the chosen level, at most one line per cause a
// second with the count of those left out.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway/engineio"
)

// logLines is a slog.Handler keeping the records it is given.
type logLines struct {
	mu    sync.Mutex
	level slog.Level
	recs  []slog.Record
}

func (l *logLines) Enabled(_ context.Context, lv slog.Level) bool { return lv >= l.level }
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *logLines) WithGroup(string) slog.Handler                 { return l }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}

// refusals returns the attributes of the "request refused" lines, in
// order, each with its level under "level".
func (l *logLines) refusals() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, r := range l.recs {
		if r.Message != "engineio: request refused" {
			continue
		}
		m := map[string]any{"level": r.Level}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.Any()
			return true
		})
		out = append(out, m)
	}
	return out
}

func TestRefusalLog(t *testing.T) {
	logs := &logLines{level: slog.LevelDebug}
	s := newServer(t, engineio.Config{
		Logger:             slog.New(logs),
		RefusalLogLevel:    slog.LevelWarn,
		MaxPayload:         100,
		CORSAllowedOrigins: []string{"https://good.example"},
		AllowRequest: func(r *http.Request) error {
			if r.URL.Query().Get("deny") != "" {
				return errors.New("go away")
			}
			return nil
		},
	})
	sid, _ := s.handshake(t)
	cases := []struct {
		cause, method, url, body string
		hdr                      http.Header
		status                   int
	}{
		{"unsupported_protocol_version", "GET", s.url + "?EIO=3&transport=polling", "", nil, 400},
		{"unknown_transport", "GET", s.url + "?EIO=4&transport=flash", "", nil, 400},
		{"unknown_sid", "GET", s.pollURL("nope"), "", nil, 400},
		{"bad_handshake_method", "POST", s.pollURL(""), "4x", nil, 400},
		{"bad_request", "PUT", s.pollURL(sid), "", nil, 400},
		{"cors", "GET", s.pollURL(""), "", http.Header{"Origin": {"https://evil.example"}}, 400},
		{"forbidden", "GET", s.pollURL("") + "&deny=1", "", nil, 403},
		{"payload_too_large", "POST", s.pollURL(sid), "4" + strings.Repeat("x", 200), nil, 413},
	}
	for i, c := range cases {
		resp, _ := request(t, c.method, c.url, c.body, c.hdr)
		if resp.StatusCode != c.status {
			t.Fatalf("%s: HTTP %d, want %d", c.cause, resp.StatusCode, c.status)
		}
		var lines []map[string]any
		eventually(t, "the line for "+c.cause, func() bool {
			lines = logs.refusals()
			return len(lines) >= i+1
		})
		if len(lines) != i+1 {
			t.Fatalf("%s: %d lines, want %d: %v", c.cause, len(lines), i+1, lines)
		}
		l := lines[i]
		if l["cause"] != c.cause || l["level"] != slog.LevelWarn || l["status"] != int64(c.status) {
			t.Fatalf("%s: line %v", c.cause, l)
		}
		if remote, _ := l["remote"].(string); !strings.HasPrefix(remote, "127.0.0.1:") {
			t.Fatalf("%s: remote %v", c.cause, l["remote"])
		}
		if l["refused_since_last_line"] != int64(0) {
			t.Fatalf("%s: a first line counts %v refusals left out", c.cause, l["refused_since_last_line"])
		}
	}

	// A flood of one cause: requests go on until its second line appears,
	// which must come a second after the first and count every refusal
	// in between.
	before := len(logs.refusals())
	start := time.Now()
	sent := 0
	var flood []map[string]any
	for len(flood) < 2 {
		resp, _ := request(t, "GET", s.pollURL("flood"), "", nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("flood: HTTP %d", resp.StatusCode)
		}
		sent++
		flood = flood[:0]
		for _, l := range logs.refusals()[before:] {
			if l["cause"] != "unknown_sid" {
				t.Fatalf("flood: a line of another cause: %v", l)
			}
			flood = append(flood, l)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no second line after %d refusals in %v", sent, time.Since(start))
		}
	}
	// unknown_sid was logged just before: the first flood line comes a
	// second after that one, the second a second later, and the two
	// account for every refusal of the flood.
	accounted := len(flood) + int(flood[0]["refused_since_last_line"].(int64)) + int(flood[1]["refused_since_last_line"].(int64))
	if accounted != sent {
		t.Fatalf("%d refusals sent, the lines account for %d: %v", sent, accounted, flood)
	}
	if sent < 3 {
		t.Fatalf("only %d refusals in over a second: the flood did not flood", sent)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("two lines of one cause within %v", el)
	}
}

func TestRefusalLogLevel(t *testing.T) {
	logs := &logLines{level: slog.LevelInfo}
	s := newServer(t, engineio.Config{Logger: slog.New(logs), RefusalLogLevel: slog.LevelDebug})
	if resp, _ := request(t, "GET", s.url+"?EIO=4&transport=flash", "", nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	// A later line of another kind tells that the refusal was handled.
	if resp, _ := request(t, "GET", s.pollURL("x"), "", nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	if l := logs.refusals(); len(l) != 0 {
		t.Fatalf("refusals logged below the handler's level: %v", l)
	}
	logs2 := &logLines{level: slog.LevelInfo}
	s2 := newServer(t, engineio.Config{Logger: slog.New(logs2)})
	if resp, _ := request(t, "GET", s2.url+"?EIO=4&transport=flash", "", nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	if l := logs2.refusals(); len(l) != 1 || l[0]["level"] != slog.LevelInfo {
		t.Fatalf("default level: %v", l)
	}
}
