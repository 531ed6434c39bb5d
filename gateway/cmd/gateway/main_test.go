package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
)

func TestParseFlagsDefaultsEnvAndOverrides(t *testing.T) {
	env := map[string]string{
		"SIOGATE_ADDR":          "127.0.0.1:4000",
		"SIOGATE_PING_INTERVAL": "5s",
		"SIOGATE_CORS_ORIGINS":  "*",
	}
	o, err := parseFlags([]string{"--addr", "127.0.0.1:5000", "--max-payload", "42"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:5000" {
		t.Errorf("flag should override env: addr = %q", o.addr)
	}
	if o.pingInterval != 5*time.Second || o.cors != "*" {
		t.Errorf("env not applied: pingInterval=%v cors=%q", o.pingInterval, o.cors)
	}
	if o.maxPayload != 42 || o.pingTimeout != 20*time.Second || o.path != "/socket.io/" || o.adapterName != "memory" {
		t.Errorf("unexpected options %+v", o)
	}
}

func TestParseFlagsRejectsBadValues(t *testing.T) {
	none := func(string) string { return "" }
	if _, err := parseFlags([]string{"--ping-interval", "soon"}, none); err == nil {
		t.Error("bad duration flag accepted")
	}
	if _, err := parseFlags(nil, func(k string) string {
		if k == "SIOGATE_MAX_PAYLOAD" {
			return "big"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "SIOGATE_MAX_PAYLOAD") {
		t.Errorf("bad env value: err = %v, want one naming the variable", err)
	}
	logger := slog.New(slog.DiscardHandler)
	o, _ := parseFlags(nil, none)
	o.adapterName = "zookeeper"
	if _, _, err := newServer(o, logger); err == nil || !strings.Contains(err.Error(), "--adapter") {
		t.Errorf("unknown adapter: err = %v", err)
	}
	o, _ = parseFlags([]string{"--transports", "polling,carrier-pigeon"}, none)
	if _, _, err := newServer(o, logger); err == nil {
		t.Error("unknown transport accepted")
	}
}

// fromFlags builds the gateway the flags describe.
func fromFlags(t *testing.T, args ...string) (options, *gateway.Server) {
	t.Helper()
	o, err := parseFlags(args, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, _, err := newServer(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return o, srv
}

// startFromFlags serves the gateway the flags describe on a test server.
func startFromFlags(t *testing.T, args ...string) *httptest.Server {
	t.Helper()
	_, srv := fromFlags(t, args...)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func TestWSCompressionFlag(t *testing.T) {
	for _, on := range []bool{false, true} {
		args := []string{}
		if on {
			args = append(args, "--ws-compression")
		}
		ts := startFromFlags(t, args...)
		req, _ := http.NewRequest("GET", ts.URL+"/socket.io/?EIO=4&transport=websocket", nil)
		for k, v := range map[string]string{
			"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
			"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
		} {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		ext := res.Header.Get("Sec-WebSocket-Extensions")
		if res.StatusCode != http.StatusSwitchingProtocols || strings.HasPrefix(ext, "permessage-deflate") != on {
			t.Fatalf("--ws-compression=%v: HTTP %d, Sec-WebSocket-Extensions %q", on, res.StatusCode, ext)
		}
	}
}

func TestServerServesHandshakeAndDemo(t *testing.T) {
	ts := startFromFlags(t, "--transports", "polling")

	res, err := http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(string(body), `0{"sid":`) || !strings.Contains(string(body), `"upgrades":[]`) {
		t.Fatalf("handshake: %d %s (polling-only must offer no upgrade)", res.StatusCode, body)
	}
	res, err = http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "/socket.io.min.js") {
		t.Fatalf("demo page: %d", res.StatusCode)
	}
	res, err = http.Get(ts.URL + "/nope/../../etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == 200 {
		b, _ := io.ReadAll(res.Body)
		if strings.Contains(string(b), "root:") {
			t.Fatal("path traversal served a file outside the demo")
		}
	}
}

func TestRedisAdapterFlag(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	o, err := parseFlags([]string{"--adapter", "redis", "--redis-url", "redis://127.0.0.1:1/0"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newServer(o, logger); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("unreachable Redis: err = %v, want a clear start-up error", err)
	}
	o.redisURL = "mysql://127.0.0.1/0"
	if _, _, err := newServer(o, logger); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("bad URL: err = %v", err)
	}
	o.redisURL = "redis://127.0.0.1:6379/0"
	srv, closer, err := newServer(o, logger)
	if err != nil {
		t.Fatalf("Redis on 127.0.0.1:6379 is needed: %v", err)
	}
	defer closer.Close()
	if n, err := srv.Of("/").Adapter().ServerCount(t.Context()); err != nil || n < 1 {
		t.Errorf("ServerCount = %d, %v", n, err)
	}
}

// Every broker flag: a bad URL and an unreachable broker fail at start with
// a clear error; the running brokers of this machine are reached.
func TestBrokerFlags(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	none := func(string) string { return "" }
	cases := []struct {
		adapter, urlFlag, bad, unreachable string
	}{
		{"nats", "--nats-url", "http://127.0.0.1:4222", "nats://127.0.0.1:1"},
		{"amqp", "--amqp-url", "http://127.0.0.1:5672/", "amqp://guest:guest@127.0.0.1:1/"},
		{"redis", "--redis-url", "mysql://127.0.0.1/0", "redis://127.0.0.1:1/0"},
	}
	// Kafka has no broker on this machine: a bad and an unreachable URL
	// must still fail at start (its adapter module runs against a mock
	// cluster in its own tests).
	for _, u := range []string{"http://127.0.0.1:9092", "kafka://127.0.0.1:1"} {
		o, err := parseFlags([]string{"--adapter", "kafka", "--kafka-url", u}, none)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := newServer(o, logger); err == nil {
			t.Errorf("kafka %s: accepted at start", u)
		}
	}
	for _, c := range cases {
		t.Run(c.adapter, func(t *testing.T) {
			for _, u := range []string{c.bad, c.unreachable} {
				o, err := parseFlags([]string{"--adapter", c.adapter, c.urlFlag, u}, none)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := newServer(o, logger); err == nil {
					t.Errorf("%s: accepted at start", u)
				}
			}
			o, err := parseFlags([]string{"--adapter", c.adapter, "--channel-prefix", "flagtest"}, none)
			if err != nil {
				t.Fatal(err)
			}
			srv, closer, err := newServer(o, logger)
			if err != nil {
				t.Fatalf("the %s broker of this machine is needed: %v", c.adapter, err)
			}
			defer closer.Close()
			defer srv.Shutdown(t.Context())
			if n, err := srv.Of("/").Adapter().ServerCount(t.Context()); err != nil || n < 1 {
				t.Errorf("ServerCount = %d, %v", n, err)
			}
		})
	}
}

func TestRecoveryFlag(t *testing.T) {
	for _, on := range []bool{false, true} {
		args := []string{"--transports", "polling", "--demo=false"}
		if on {
			args = append(args, "--recovery", "--recovery-max-disconnection", "30s")
		}
		ts := startFromFlags(t, args...)
		res, err := http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var hs struct{ SID string }
		if err := json.Unmarshal(body[1:], &hs); err != nil {
			t.Fatalf("handshake %s: %v", body, err)
		}
		u := ts.URL + "/socket.io/?EIO=4&transport=polling&sid=" + hs.SID
		if res, err = http.Post(u, "text/plain", strings.NewReader("40")); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res, err = http.Get(u); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if hasPID := strings.Contains(string(body), `"pid":`); !strings.HasPrefix(string(body), `40{"sid":`) || hasPID != on {
			t.Errorf("--recovery=%v: CONNECT answer %s", on, body)
		}
	}
	o, _ := parseFlags([]string{"--recovery", "--recovery-store", "floppy"}, func(string) string { return "" })
	if _, _, err := newServer(o, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--recovery-store") {
		t.Errorf("unknown store: err = %v", err)
	}
}
