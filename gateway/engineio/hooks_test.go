package engineio_test

// Engine.IO error codes and the request hooks of Config, over real HTTP
// and raw WebSocket handshakes.

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siogate/siogate/gateway/engineio"
)

// engineError decodes an Engine.IO error body.
func engineError(t *testing.T, body string) (code int, message string) {
	t.Helper()
	var e struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code == nil || e.Message == nil {
		t.Fatalf("not an Engine.IO error body: %q (%v)", body, err)
	}
	return *e.Code, *e.Message
}

// expectError checks a refusal: its status, JSON content type and body.
func expectError(t *testing.T, resp *http.Response, body string, status, code int, message string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("HTTP %d %q, want %d", resp.StatusCode, body, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if c, m := engineError(t, body); c != code || m != message {
		t.Fatalf(`body %q, want {"code":%d,"message":%q}`, body, code, message)
	}
}

// refusal reads the body of a refused raw WebSocket handshake.
func (c *rawWS) refusal(t *testing.T) string {
	t.Helper()
	b, err := io.ReadAll(c.resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestErrorCodes(t *testing.T) {
	s := newServer(t, engineio.Config{})
	sid, _ := s.handshake(t)
	wsOnly := newServer(t, engineio.Config{Transports: []string{"websocket"}})
	cases := []struct {
		name, method, url string
		code              int
		message           string
	}{
		{"unknown transport", "GET", s.url + "?EIO=4&transport=flash", 0, "Transport unknown"},
		{"missing transport", "GET", s.url + "?EIO=4", 0, "Transport unknown"},
		{"transport not enabled", "GET", wsOnly.pollURL(""), 0, "Transport unknown"},
		{"unknown transport before version", "GET", s.url + "?EIO=3&transport=flash", 0, "Transport unknown"},
		{"unknown sid GET", "GET", s.pollURL("nope"), 1, "Session ID unknown"},
		{"unknown sid POST", "POST", s.pollURL("nope"), 1, "Session ID unknown"},
		{"POST handshake", "POST", s.pollURL(""), 2, "Bad handshake method"},
		{"PUT handshake", "PUT", s.pollURL(""), 2, "Bad handshake method"},
		{"PUT with a sid", "PUT", s.pollURL(sid), 3, "Bad request"},
		{"websocket without upgrade", "GET", s.wsURL(""), 3, "Bad request"},
		{"EIO=3", "GET", s.url + "?EIO=3&transport=polling", 5, "Unsupported protocol version"},
		{"missing EIO", "GET", s.url + "?transport=polling", 5, "Unsupported protocol version"},
		{"EIO not a number", "GET", s.url + "?EIO=four&transport=polling", 5, "Unsupported protocol version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := c.url
			if strings.HasPrefix(url, "ws") {
				url = "http" + strings.TrimPrefix(url, "ws")
			}
			resp, body := request(t, c.method, url, "4x", nil)
			expectError(t, resp, body, http.StatusBadRequest, c.code, c.message)
		})
	}
	t.Run("overlapping GET", func(t *testing.T) {
		sid, _ := s.handshake(t)
		first := s.asyncGet(t, nil, sid)
		s.waitPollPending(t, sid)
		resp, body := request(t, "GET", s.pollURL(sid), "", nil)
		expectError(t, resp, body, http.StatusBadRequest, 3, "Bad request")
		awaitGet(t, first)
	})
	t.Run("polling request for a websocket session", func(t *testing.T) {
		wsid := dialRaw(t, s, "").open(t)
		resp, body := request(t, "GET", s.pollURL(wsid), "", nil)
		expectError(t, resp, body, http.StatusBadRequest, 3, "Bad request")
	})
	for _, c := range []struct {
		name, path string
		code       int
		message    string
	}{
		{"websocket unknown sid", "/engine.io/?EIO=4&transport=websocket&sid=nope", 1, "Session ID unknown"},
		{"websocket bad EIO", "/engine.io/?EIO=3&transport=websocket", 5, "Unsupported protocol version"},
		{"websocket not enabled", "/engine.io/?EIO=4&transport=websocket", 0, "Transport unknown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := s
			if c.code == 0 {
				srv = newServer(t, engineio.Config{Transports: []string{"polling"}})
			}
			ws := dialRawPath(t, srv, c.path)
			expectError(t, ws.resp, ws.refusal(t), http.StatusBadRequest, c.code, c.message)
		})
	}
	t.Run("the session survives", func(t *testing.T) {
		if code, body := s.post(t, sid, "4still"); code != 200 || body != "ok" {
			t.Fatalf("POST after the refusals: %d %q", code, body)
		}
	})
}

func TestAllowRequest(t *testing.T) {
	var calls atomic.Int32
	s := newServer(t, engineio.Config{AllowRequest: func(r *http.Request) error {
		calls.Add(1)
		switch r.URL.Query().Get("token") {
		case "ok":
			return nil
		case "custom":
			return &engineio.Error{Code: engineio.CodeBadRequest, Message: "token expired"}
		case "silent":
			return errors.New("")
		}
		return errors.New("no token, no entry")
	}})
	get := func(query string) (*http.Response, string) {
		return request(t, "GET", s.pollURL("")+query, "", nil)
	}
	t.Run("refused with the error's text", func(t *testing.T) {
		resp, body := get("")
		expectError(t, resp, body, http.StatusForbidden, 4, "no token, no entry")
	})
	t.Run("refused without a message", func(t *testing.T) {
		resp, body := get("&token=silent")
		expectError(t, resp, body, http.StatusForbidden, 4, "Forbidden")
	})
	t.Run("refused with a chosen code", func(t *testing.T) {
		resp, body := get("&token=custom")
		expectError(t, resp, body, http.StatusBadRequest, 3, "token expired")
	})
	t.Run("websocket refused", func(t *testing.T) {
		ws := dialRaw(t, s, "")
		expectError(t, ws.resp, ws.refusal(t), http.StatusForbidden, 4, "no token, no entry")
	})
	if n := s.srv.Count(); n != 0 {
		t.Fatalf("%d sessions opened by refused handshakes", n)
	}
	t.Run("allowed, and asked only about handshakes", func(t *testing.T) {
		before := calls.Load()
		resp, body := get("&token=ok")
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d %q", resp.StatusCode, body)
		}
		sid, _ := parseOpen(t, body)
		if code, _ := s.post(t, sid, "4hello"); code != 200 {
			t.Fatalf("POST: HTTP %d", code)
		}
		if code, body := s.get(t, sid); code != 200 || body != "4hello" {
			t.Fatalf("GET: %d %q", code, body)
		}
		ws := dialRaw(t, s, "&token=ok")
		ws.open(t)
		if n := calls.Load() - before; n != 2 {
			t.Fatalf("AllowRequest called %d times for two handshakes and two requests, want 2", n)
		}
	})
}

func TestHeaderHooks(t *testing.T) {
	s := newServer(t, engineio.Config{
		WebSocketCompression: true,
		Cookie:               &http.Cookie{Name: "io"},
		InitialHeaders: func(r *http.Request, h http.Header) {
			h.Set("X-Initial", "yes")
		},
		Headers: func(r *http.Request, h http.Header) {
			h.Set("X-Every", r.URL.Query().Get("transport"))
			if v := r.Header.Get("X-Ask"); v != "" {
				h.Set("X-Echo", v)
			}
		},
	})
	check := func(t *testing.T, h http.Header, initial bool, transport string) {
		t.Helper()
		if got := h.Get("X-Initial"); (got == "yes") != initial {
			t.Fatalf("X-Initial %q, want it only on a handshake (handshake: %v)", got, initial)
		}
		if got := h.Get("X-Every"); got != transport {
			t.Fatalf("X-Every %q, want %q", got, transport)
		}
	}
	var sid string
	t.Run("polling handshake", func(t *testing.T) {
		resp, body := request(t, "GET", s.pollURL(""), "", http.Header{"X-Ask": {"echo me"}})
		check(t, resp.Header, true, "polling")
		if v := resp.Header.Get("X-Echo"); v != "echo me" {
			t.Fatalf("X-Echo %q: the hook did not see the request", v)
		}
		sid, _ = parseOpen(t, body)
	})
	t.Run("polling requests", func(t *testing.T) {
		resp, _ := request(t, "POST", s.pollURL(sid), "4x", nil)
		check(t, resp.Header, false, "polling")
		resp, _ = request(t, "GET", s.pollURL(sid), "", nil)
		check(t, resp.Header, false, "polling")
	})
	t.Run("websocket handshake", func(t *testing.T) {
		ws := dialRaw(t, s, "", "permessage-deflate")
		if ws.resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("HTTP %d", ws.resp.StatusCode)
		}
		check(t, ws.resp.Header, true, "websocket")
		if got := ws.resp.Header.Get("Sec-WebSocket-Extensions"); got != deflateAnswer {
			t.Fatalf("Sec-WebSocket-Extensions %q beside the added headers", got)
		}
		wsid := ws.open(t)
		var cookie *http.Cookie
		for _, c := range ws.resp.Cookies() {
			if c.Name == "io" {
				cookie = c
			}
		}
		if cookie == nil || cookie.Value != wsid {
			t.Fatalf("cookie %v on the websocket handshake, want io=%s", cookie, wsid)
		}
		// Frames still flow, through the writev path and compressed.
		_ = s.rec.session(t, wsid).Send(engineio.MessageFrame([]byte(big)))
		if f, m := ws.message(t); !f.rsv1 || string(m) != "4"+big {
			t.Fatalf("after added headers: RSV1 %v, %d bytes", f.rsv1, len(m))
		}
	})
	t.Run("websocket upgrade", func(t *testing.T) {
		sid, _ := s.handshake(t)
		ws := dialRaw(t, s, "&sid="+sid)
		if ws.resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("HTTP %d", ws.resp.StatusCode)
		}
		check(t, ws.resp.Header, false, "websocket")
		if c := ws.resp.Header.Get("Set-Cookie"); c != "" {
			t.Fatalf("Set-Cookie %q on an upgrade", c)
		}
	})
}

func TestCORSAllowOrigin(t *testing.T) {
	s := newServer(t, engineio.Config{
		CORSAllowedOrigins: []string{"http://listed.example"}, // ignored: the function decides
		CORSAllowOrigin: func(r *http.Request, origin string) bool {
			return strings.HasSuffix(origin, ".trusted.example") && r.URL.Query().Get("transport") != ""
		},
	})
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"http://a.trusted.example", true},
		{"https://b.trusted.example", true},
		{"http://listed.example", false},
		{"http://other.example", false},
	} {
		resp, _ := request(t, "GET", s.pollURL(""), "", http.Header{"Origin": {c.origin}})
		if c.ok && (resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != c.origin) {
			t.Fatalf("%s: HTTP %d, ACAO %q; want allowed", c.origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if !c.ok && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: HTTP %d, want refused", c.origin, resp.StatusCode)
		}
	}
}

func TestSessionCookie(t *testing.T) {
	s := newServer(t, engineio.Config{
		Cookie: &http.Cookie{Name: "static"}, // SessionCookie wins
		SessionCookie: func(r *http.Request) *http.Cookie {
			if r.Header.Get("X-No-Cookie") != "" {
				return nil
			}
			return &http.Cookie{Name: "io", Domain: "example.com", Secure: r.Header.Get("X-Forwarded-Proto") == "https", HttpOnly: true}
		},
	})
	find := func(resp *http.Response) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == "io" || c.Name == "static" {
				return c
			}
		}
		return nil
	}
	resp, body := request(t, "GET", s.pollURL(""), "", http.Header{"X-Forwarded-Proto": {"https"}})
	sid, _ := parseOpen(t, body)
	c := find(resp)
	if c == nil || c.Name != "io" || c.Value != sid || !c.Secure || !c.HttpOnly || c.Domain != "example.com" ||
		c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v, want io=%s computed for the request, with the defaults", c, sid)
	}
	resp, _ = request(t, "GET", s.pollURL(""), "", nil)
	if c := find(resp); c == nil || c.Secure {
		t.Fatalf("cookie %+v, want one without Secure", c)
	}
	resp, _ = request(t, "GET", s.pollURL(""), "", http.Header{"X-No-Cookie": {"1"}})
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Fatalf("Set-Cookie %q when the function returned nil", c)
	}
}
