package gateway_test

// Interop with the official JavaScript client using socket.io-msgpack-parser
// (run by node from ../js/interop/msgpack-client.mjs) against a gateway
// configured with msgpackparser.Parser, over WebSocket and long-polling.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/msgpackparser"
)

// msgpackServer is the gateway the msgpack scenario talks to; rec gets
// what its handlers saw.
func msgpackServer(t *testing.T, rec *recorder) *httptest.Server {
	t.Helper()
	srv := gateway.NewServer(gateway.Config{Parser: msgpackparser.Parser{}, AsyncHandlers: true})
	root := srv.Of("/")
	root.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		var a map[string]any
		if err := json.Unmarshal(auth, &a); err != nil || a["token"] != "secret" {
			return &gateway.ConnectError{Message: "bad token"}
		}
		rec.add(record{Kind: "connect", NS: "/", SID: s.ID(), Transport: s.Transport(), Auth: auth})
		return s.Emit("welcome", auth, s.ID(), []byte("hi"), int64(1)<<40)
	})
	root.On("echo", func(s *gateway.Socket, e *gateway.Event) []any {
		vals, err := e.Args.Values()
		rec.add(record{Kind: "event", Name: "echo", Values: vals, Err: err})
		// Numbers come in as JSON: ints stay ints.
		var n int
		var f float64
		if err := e.Args.Decode(1, &n); err != nil || n != 42 {
			rec.add(record{Kind: "bad", Name: "int arg", Err: err})
		}
		if err := e.Args.Decode(3, &f); err != nil || f != 1.5 {
			rec.add(record{Kind: "bad", Name: "float arg", Err: err})
		}
		return append([]any{"echoed"}, e.Args.Items()...)
	})
	root.On("ask", func(s *gateway.Socket, e *gateway.Event) []any {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := s.EmitWithAck(ctx, "question", "q", 7, []byte{9, 8}, map[string]any{"deep": []any{[]byte{7}}})
		var vals []any
		if err == nil {
			vals, err = res.Values()
		}
		rec.add(record{Kind: "result", Name: "question", Values: vals, Err: err})
		return res.Items()
	})
	root.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		s.Join(e.Args.String(0))
		return []any{true}
	})
	root.On("shout", func(s *gateway.Socket, e *gateway.Event) []any {
		err := srv.To(e.Args.String(0)).Emit(context.Background(), "news", "hello room", []byte{1, 2}, map[string]any{"n": 3})
		return []any{err == nil}
	})
	chat := srv.Of("/chat")
	chat.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		rec.add(record{Kind: "connect", NS: "/chat", SID: s.ID(), Auth: auth})
		return nil
	})
	chat.On("hello", func(s *gateway.Socket, e *gateway.Event) []any {
		var b []byte
		if err := e.Args.Decode(1, &b); err != nil {
			return []any{"bad", err.Error()}
		}
		return []any{"chat-ack", s.Namespace().Name(), e.Args.String(0), b}
	})
	srv.Of("/private").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		return &gateway.ConnectError{Message: "not allowed", Data: map[string]any{"code": 403, "why": []any{"private", 1.5}}}
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return hs
}

// runMsgpackClient runs the node scenario and returns its lines by event.
func runMsgpackClient(t *testing.T, url, transports string) map[string]map[string]any {
	t.Helper()
	node, jsDir := interopNode(t)
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-msgpack-parser", "package.json")); err != nil {
		t.Fatalf("the msgpack interop test needs socket.io-msgpack-parser: run `npm ci` in %s (%v)", jsDir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), interopScenarioTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsDir, "interop", "msgpack-client.mjs"), url, transports)
	cmd.Dir = jsDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			t.Logf("node: %s", sc.Text())
			continue
		}
		ev, _ := m["ev"].(string)
		lines[ev] = m
	}
	if e, ok := lines["error"]; ok {
		t.Fatalf("client failed: %v\nstderr: %s", e["message"], stderr.String())
	}
	if err != nil || lines["done"] == nil {
		t.Fatalf("client: %v\nstdout: %s\nstderr: %s", err, stdout, stderr.String())
	}
	return lines
}

// bin is how msgpack-client.mjs describes a received Buffer.
func bin(hex string) map[string]any { return map[string]any{"$bin": "Buffer", "hex": hex} }

func TestMsgpackInterop(t *testing.T) {
	for _, tr := range []string{"websocket", "polling"} {
		t.Run(tr, func(t *testing.T) {
			rec := newRecorder()
			hs := msgpackServer(t, rec)
			lines := runMsgpackClient(t, hs.URL, tr)
			check := func(ev, field string, want any) {
				t.Helper()
				got := lines[ev][field]
				if !reflect.DeepEqual(got, want) {
					gj, _ := json.Marshal(got)
					wj, _ := json.Marshal(want)
					t.Errorf("%s.%s = %s\nwant %s", ev, field, gj, wj)
				}
			}

			check("connected", "transport", tr)
			conn := rec.wait(t, "the connection", func(r record) bool { return r.Kind == "connect" && r.NS == "/" })
			var auth map[string]any
			if err := json.Unmarshal(conn.Auth, &auth); err != nil || !reflect.DeepEqual(auth, map[string]any{"token": "secret", "n": 5.0, "pi": 3.25}) {
				t.Errorf("auth = %s", conn.Auth)
			}
			if conn.Transport != tr {
				t.Errorf("server transport %q", conn.Transport)
			}
			check("connected", "id", conn.SID)
			check("welcome", "args", []any{map[string]any{"token": "secret", "n": 5.0, "pi": 3.25}, conn.SID, bin("6869"), float64(int64(1) << 40)})

			// Client → server: many args, nested binary; the ack echoes them.
			echo := rec.wait(t, "echo", func(r record) bool { return r.Kind == "event" && r.Name == "echo" })
			if echo.Err != nil {
				t.Fatal(echo.Err)
			}
			wantEcho := []any{"text", 42.0, -7.0, 1.5, true, nil,
				map[string]any{"nested": map[string]any{"arr": []any{1.0, "two", []byte{1, 2, 3}}}}, []byte{0xde, 0xad}}
			if !reflect.DeepEqual(echo.Values, wantEcho) {
				t.Errorf("server saw echo %#v\nwant %#v", echo.Values, wantEcho)
			}
			check("echo-ack", "args", []any{"echoed", "text", 42.0, -7.0, 1.5, true, nil,
				map[string]any{"nested": map[string]any{"arr": []any{1.0, "two", bin("010203")}}}, bin("dead")})
			if bad := rec.all(func(r record) bool { return r.Kind == "bad" }); len(bad) > 0 {
				t.Errorf("argument decoding: %+v", bad)
			}

			// Server → client with an ack.
			check("question", "args", []any{"q", 7.0, bin("0908"), map[string]any{"deep": []any{bin("07")}}})
			res := rec.wait(t, "the question's answer", func(r record) bool { return r.Kind == "result" })
			wantRes := []any{"answer", 99.0, []byte{5, 6}, map[string]any{"nested": []any{[]byte("xyz")}}}
			if res.Err != nil || !reflect.DeepEqual(res.Values, wantRes) {
				t.Errorf("server got answer %#v, %v\nwant %#v", res.Values, res.Err, wantRes)
			}
			check("ask-ack", "args", []any{"answer", 99.0, bin("0506"), map[string]any{"nested": []any{bin("78797a")}}})

			// Custom namespace, multiplexed.
			chat := rec.wait(t, "the /chat connection", func(r record) bool { return r.Kind == "connect" && r.NS == "/chat" })
			if string(chat.Auth) != `{"room":"x"}` {
				t.Errorf("/chat auth = %s", chat.Auth)
			}
			check("chat-ack", "args", []any{"chat-ack", "/chat", "from chat", bin("cafe")})

			// connect_error with data.
			check("connect-error", "message", "not allowed")
			check("connect-error", "data", map[string]any{"code": 403.0, "why": []any{"private", 1.5}})

			// A room broadcast, encoded once, to two connections.
			news := []any{"hello room", bin("0102"), map[string]any{"n": 3.0}}
			check("news", "a", news)
			check("news", "b", news)
		})
	}
}

// TestMsgpackRefusesJSONClient checks that a default-parser client cannot
// talk to a msgpack gateway: its text packets are a parse error.
func TestMsgpackRefusesJSONClient(t *testing.T) {
	srv := gateway.NewServer(gateway.Config{Parser: msgpackparser.Parser{}})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	resp, err := hs.Client().Get(hs.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	var open struct{ Sid string }
	if err := json.Unmarshal(bytes.TrimPrefix(body.Bytes(), []byte("0")), &open); err != nil {
		t.Fatalf("handshake %q: %v", body, err)
	}
	post, err := hs.Client().Post(hs.URL+"/socket.io/?EIO=4&transport=polling&sid="+open.Sid, "text/plain", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Engine().Count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session survived a JSON packet")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
