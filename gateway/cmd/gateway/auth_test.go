package main

// Connect authentication (--auth jwt, --auth hook) against the official
// socket.io-client (js/interop/auth.mjs): accepted clients get their data
// and rooms, refused ones read the reason in err.message and err.data.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/connauth"
)

// authNode serves the gateway the flags (and environment) describe, with
// the test handlers auth.mjs calls: "whoami" answers the socket's data and
// rooms, "ping-room" broadcasts "room-news" to a room.
func authNode(t *testing.T, env map[string]string, args ...string) *httptest.Server {
	t.Helper()
	o, err := parseFlags(append([]string{"--demo=false"}, args...), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, closer, err := newServer(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ns := srv.Of("/")
	ns.On("whoami", func(s *gateway.Socket, e *gateway.Event) []any {
		rooms := s.Rooms()
		slices.Sort(rooms)
		return []any{map[string]any{"sid": s.ID(), "data": s.Data(), "rooms": rooms}}
	})
	ns.On("ping-room", func(s *gateway.Socket, e *gateway.Event) []any {
		room := e.Args.String(0)
		_ = srv.To(room).Emit(context.Background(), "room-news", room)
		return []any{true}
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Shutdown(context.Background())
		if closer != nil {
			_ = closer.Close()
		}
	})
	return ts
}

// runAuthJS runs auth.mjs to its end and returns its JSON lines; it fails
// the test on a reported error.
func runAuthJS(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	jsDir, err := filepath.Abs(filepath.Join("..", "..", "..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("auth tests need Node.js: `node` is not on PATH (%v); install Node.js 18+ and run `npm ci` in %s", err, jsDir)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client", "package.json")); err != nil {
		t.Fatalf("auth tests need socket.io-client: run `npm ci` in %s (%v)", jsDir, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(jsDir, "interop", "auth.mjs")}, args...)...)
	cmd.Dir = jsDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var lines []map[string]any
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("auth.mjs printed %q", sc.Text())
		}
		if m["ev"] == "error" {
			t.Fatalf("auth.mjs %s: %v\nstderr: %s", args[1], m["message"], stderr.String())
		}
		lines = append(lines, m)
	}
	if runErr != nil || len(lines) == 0 || lines[len(lines)-1]["ev"] != "done" {
		t.Fatalf("auth.mjs %s: %v; output %v; stderr: %s", args[1], runErr, lines, stderr.String())
	}
	return lines
}

// byName indexes the accepted/refused lines of a cases run.
func byName(lines []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, l := range lines {
		if n, ok := l["name"].(string); ok {
			out[n] = l
		}
	}
	return out
}

// authCase is one client of a cases run (see auth.mjs).
type authCase struct {
	Name       string            `json:"name"`
	Auth       any               `json:"auth,omitempty"`
	Query      map[string]string `json:"query,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Transports []string          `json:"transports,omitempty"`
	Want       string            `json:"want"`
	Message    string            `json:"message,omitempty"`
	Rooms      []string          `json:"rooms,omitempty"`
}

func casesArg(t *testing.T, cs []authCase) string {
	b, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const authTestSecret = "siogate-test-secret-0123456789abcdef"

func signed(t *testing.T, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims(sub string, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// TestAuthJWTInterop: HS256 (secret from the environment) in the auth
// payload, a header and the query; RS256 from a local JWKS server; ES256
// from a PEM file. Accepted clients find their data on the server and get
// broadcasts to their rooms; expired, forged and missing tokens are
// refused with the reason in err.message.
func TestAuthJWTInterop(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := base64.RawURLEncoding.EncodeToString
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]string{
			"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
			"n": enc(rsaKey.N.Bytes()), "e": enc(big.NewInt(int64(rsaKey.E)).Bytes()),
		}}})
	}))
	defer jwks.Close()
	der, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := authNode(t, map[string]string{"SIOGATE_AUTH_JWT_SECRET": authTestSecret},
		"--auth", "jwt", "--auth-jwt-jwks-url", jwks.URL, "--auth-jwt-keys-file", pemFile,
		"--auth-token-query", "access_token", "--auth-jwt-issuer", "siogate-test")

	iss := jwt.MapClaims{"iss": "siogate-test"}
	hs := func(sub string, extra jwt.MapClaims) string {
		c := validClaims(sub, iss)
		for k, v := range extra {
			c[k] = v
		}
		return signed(t, jwt.SigningMethodHS256, []byte(authTestSecret), "", c)
	}
	expired := validClaims("late", iss)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	cases := []authCase{
		{Name: "hs256-auth", Want: "ok", Rooms: []string{"team-a", "team-b"},
			Auth: map[string]string{"token": hs("alice", jwt.MapClaims{"rooms": []string{"team-a", "team-b"}, "name": "Alice"})}},
		{Name: "hs256-header-polling", Want: "ok", Transports: []string{"polling"}, Rooms: []string{"ops"},
			Headers: map[string]string{"Authorization": "Bearer " + hs("bob", jwt.MapClaims{"rooms": "ops"})}},
		{Name: "hs256-query-websocket", Want: "ok", Transports: []string{"websocket"},
			Query: map[string]string{"access_token": hs("carol", nil)}},
		{Name: "rs256-jwks", Want: "ok", Rooms: []string{"rsa-room"},
			Auth: map[string]string{"token": signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", validClaims("dave", jwt.MapClaims{"iss": "siogate-test", "rooms": []string{"rsa-room"}, "tier": "gold"}))}},
		{Name: "es256-pem", Want: "ok", Rooms: []string{"ec-room"},
			Auth: map[string]string{"token": signed(t, jwt.SigningMethodES256, ecKey, "", validClaims("erin", jwt.MapClaims{"iss": "siogate-test", "rooms": []string{"ec-room"}}))}},
		{Name: "expired", Want: "refused", Message: "unauthorized: token expired",
			Auth: map[string]string{"token": signed(t, jwt.SigningMethodHS256, []byte(authTestSecret), "", expired)}},
		{Name: "forged", Want: "refused", Message: "unauthorized: invalid token signature",
			Auth: map[string]string{"token": signed(t, jwt.SigningMethodHS256, []byte("not-the-secret-not-the-secret-xx"), "", validClaims("mallory", iss))}},
		{Name: "wrong-issuer", Want: "refused", Message: "unauthorized: token not issued for this service",
			Auth: map[string]string{"token": signed(t, jwt.SigningMethodHS256, []byte(authTestSecret), "", validClaims("mallory", jwt.MapClaims{"iss": "elsewhere"}))}},
		{Name: "no-token", Want: "refused", Message: "unauthorized: no token"},
	}
	got := byName(runAuthJS(t, ts.URL, "cases", casesArg(t, cases)))

	wantWho := map[string]map[string]any{
		"hs256-auth":            {"data": map[string]any{"userId": "alice", "name": "Alice"}, "rooms": []string{"team-a", "team-b"}},
		"hs256-header-polling":  {"data": map[string]any{"userId": "bob"}, "rooms": []string{"ops"}},
		"hs256-query-websocket": {"data": map[string]any{"userId": "carol"}, "rooms": nil},
		"rs256-jwks":            {"data": map[string]any{"userId": "dave", "tier": "gold"}, "rooms": []string{"rsa-room"}},
		"es256-pem":             {"data": map[string]any{"userId": "erin"}, "rooms": []string{"ec-room"}},
	}
	for name, want := range wantWho {
		l := got[name]
		if l == nil || l["ev"] != "accepted" {
			t.Errorf("%s: %v", name, l)
			continue
		}
		who := l["who"].(map[string]any)
		if !reflect.DeepEqual(who["data"], want["data"]) {
			t.Errorf("%s: socket data %v, want %v", name, who["data"], want["data"])
		}
		// The socket's rooms are its own id plus the token's.
		wantRooms, _ := want["rooms"].([]string)
		var rooms []string
		for _, r := range who["rooms"].([]any) {
			if r != who["sid"] {
				rooms = append(rooms, r.(string))
			}
		}
		if !slices.Equal(rooms, wantRooms) {
			t.Errorf("%s: rooms %v, want %v besides its id", name, who["rooms"], wantRooms)
		}
		if b := l["broadcasts"].([]any); len(b) != len(wantRooms) {
			t.Errorf("%s: broadcasts %v to rooms %v", name, b, wantRooms)
		}
	}
	wantCode := map[string]string{"expired": "token_expired", "forged": "invalid_signature", "wrong-issuer": "invalid_token", "no-token": "no_token"}
	for name, code := range wantCode {
		l := got[name]
		if l == nil || l["ev"] != "refused" {
			t.Errorf("%s: %v", name, l)
			continue
		}
		if data, _ := l["data"].(map[string]any); data["code"] != code {
			t.Errorf("%s: err.data %v, want code %s", name, l["data"], code)
		}
	}
}

// TestAuthJWTRecoveryReauthenticates: with --recovery, a client whose
// connection drops comes back recovered (same id, data and rooms) while
// its token is valid, and is refused once it presents an expired one: a
// recovered session does not skip authentication.
func TestAuthJWTRecoveryReauthenticates(t *testing.T) {
	ts := authNode(t, map[string]string{"SIOGATE_AUTH_JWT_SECRET": authTestSecret}, "--auth", "jwt", "--recovery")
	key := []byte(authTestSecret)
	expired := validClaims("frank", nil)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	arg, _ := json.Marshal(map[string]string{
		"good":    signed(t, jwt.SigningMethodHS256, key, "", validClaims("frank", jwt.MapClaims{"rooms": []string{"desk"}})),
		"expired": signed(t, jwt.SigningMethodHS256, key, "", expired),
		"room":    "desk",
	})
	lines := runAuthJS(t, ts.URL, "recover-reauth", string(arg))
	ev := map[string]map[string]any{}
	for _, l := range lines {
		ev[l["ev"].(string)] = l
	}
	re := ev["reconnected"]
	if re == nil || re["recovered"] != true || re["sameId"] != true {
		t.Errorf("reconnect with a valid token: %v, want recovered with the same id", re)
	} else if who := re["who"].(map[string]any); !reflect.DeepEqual(who["data"], map[string]any{"userId": "frank"}) {
		t.Errorf("data after recovery %v", who["data"])
	}
	if r := ev["refused"]; r == nil || r["message"] != "unauthorized: token expired" {
		t.Errorf("reconnect with an expired token: %v", r)
	}
}

// hookBackend is a test connect-hook backend.
type hookBackend struct {
	*httptest.Server
	hang      atomic.Bool   // hold each request until the caller gives up
	fail      atomic.Bool   // answer HTTP 500
	calls     atomic.Int32  // requests received
	inFlight  atomic.Int32  // requests under way
	maxFlight atomic.Int32  // most requests under way at once
	release   chan struct{} // closed at cleanup: hung requests end
	mu        sync.Mutex
	requests  []connauth.HookRequest
}

func newHookBackend(t *testing.T) *hookBackend {
	b := &hookBackend{release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		var req connauth.HookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		// The body is read: the server now notices when the node hangs up.
		n := b.inFlight.Add(1)
		defer b.inFlight.Add(-1)
		for {
			m := b.maxFlight.Load()
			if n <= m || b.maxFlight.CompareAndSwap(m, n) {
				break
			}
		}
		if b.hang.Load() {
			select {
			case <-r.Context().Done():
			case <-b.release:
			}
			return
		}
		if b.fail.Load() {
			http.Error(w, "backend broken", http.StatusInternalServerError)
			return
		}
		b.mu.Lock()
		b.requests = append(b.requests, req)
		b.mu.Unlock()
		var auth struct{ User, Password string }
		_ = json.Unmarshal(req.Auth, &auth)
		var ans connauth.HookResponse
		switch {
		case auth.Password == "open sesame":
			ans = connauth.HookResponse{Allow: true, UserID: auth.User, Rooms: []string{"hook-room", "user:" + auth.User},
				Data: json.RawMessage(`{"role":"editor","plan":"` + req.Query["plan"] + `"}`)}
		case auth.User == "":
			ans = connauth.HookResponse{Allow: true} // the flood's and recovery's clients
		default:
			ans = connauth.HookResponse{Allow: false, Message: "wrong password for " + auth.User, Data: json.RawMessage(`{"code":"bad_password","retryAfter":30}`)}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(func() {
		close(b.release)
		b.Close()
	})
	return b
}

// TestAuthHookInterop: the hook accepts a client with the data and rooms
// the backend chose (seeing its handshake: namespace, query, headers,
// address, auth), refuses another with the backend's message and data,
// and with --auth-hook-fail-open lets clients in when the backend fails.
func TestAuthHookInterop(t *testing.T) {
	backend := newHookBackend(t)
	ts := authNode(t, nil, "--auth", "hook", "--auth-hook-url", backend.URL, "--auth-hook-headers", "User-Agent,X-Team")
	cases := []authCase{
		{Name: "accepted", Want: "ok", Rooms: []string{"hook-room", "user:carol"},
			Auth: map[string]string{"user": "carol", "password": "open sesame"}, Query: map[string]string{"plan": "pro"},
			Headers: map[string]string{"X-Team": "blue", "X-Secret": "not forwarded"}},
		{Name: "refused", Want: "refused", Message: "wrong password for mallory",
			Auth: map[string]string{"user": "mallory", "password": "guess"}},
	}
	got := byName(runAuthJS(t, ts.URL, "cases", casesArg(t, cases)))
	acc := got["accepted"]
	if acc == nil || acc["ev"] != "accepted" {
		t.Fatalf("accepted: %v", acc)
	}
	who := acc["who"].(map[string]any)
	if want := map[string]any{"userId": "carol", "role": "editor", "plan": "pro"}; !reflect.DeepEqual(who["data"], want) {
		t.Errorf("socket data %v, want %v", who["data"], want)
	}
	if b := acc["broadcasts"].([]any); len(b) != 2 {
		t.Errorf("broadcasts to the backend's rooms: %v", b)
	}
	ref := got["refused"]
	if want := map[string]any{"code": "bad_password", "retryAfter": float64(30)}; ref == nil || !reflect.DeepEqual(ref["data"], want) {
		t.Errorf("refused: %v, want err.data %v", ref, want)
	}
	backend.mu.Lock()
	reqs := slices.Clone(backend.requests)
	backend.mu.Unlock()
	if len(reqs) != 2 {
		t.Fatalf("backend got %d requests, want 2", len(reqs))
	}
	r := reqs[0]
	if r.Namespace != "/" || len(r.SID) == 0 || !strings.HasPrefix(r.RemoteAddress, "127.0.0.1:") || r.Query["plan"] != "pro" ||
		r.Headers["X-Team"] != "blue" || r.Headers["User-Agent"] == "" || r.Headers["X-Secret"] != "" || r.Transport == "" {
		t.Errorf("hook request %+v", r)
	}

	// Fail open: a failing backend lets clients in, without data.
	backend.fail.Store(true)
	open := authNode(t, nil, "--auth", "hook", "--auth-hook-url", backend.URL, "--auth-hook-fail-open")
	got = byName(runAuthJS(t, open.URL, "cases", casesArg(t, []authCase{{Name: "fail-open", Want: "ok", Auth: map[string]string{"user": "x", "password": "y"}}})))
	if who := got["fail-open"]["who"].(map[string]any); !reflect.DeepEqual(who["data"], map[string]any{}) {
		t.Errorf("fail-open data %v, want {}", who["data"])
	}
	// Fail closed (the default): the failures are refused, and the fifth
	// consecutive one opens the breaker, which answers without calling.
	closed := authNode(t, nil, "--auth", "hook", "--auth-hook-url", backend.URL)
	var cs []authCase
	for i := range 7 {
		c := authCase{Name: fmt.Sprint("fail-closed-", i), Want: "refused", Message: "authentication unavailable: the authentication backend failed, retry later"}
		if i >= 5 {
			c.Message = "authentication unavailable, retry later"
		}
		cs = append(cs, c)
	}
	before := backend.calls.Load()
	runAuthJS(t, closed.URL, "cases", casesArg(t, cs))
	if n := backend.calls.Load() - before; n != 5 {
		t.Errorf("the failing backend got %d calls, want 5 (then the breaker is open)", n)
	}
}

// TestAuthHookSlowBackendBreaker: against a backend that hangs, a flood of
// 200 connects is refused with clear messages while the calls in flight
// stay bounded, the node's goroutines stay bounded and come back, and the
// circuit breaker opens; once the backend recovers the breaker closes and
// clients are accepted again.
func TestAuthHookSlowBackendBreaker(t *testing.T) {
	const (
		flood       = 200
		maxInFlight = 8
		timeout     = 500 * time.Millisecond
	)
	backend := newHookBackend(t)
	backend.hang.Store(true)
	ts := authNode(t, nil, "--auth", "hook", "--auth-hook-url", backend.URL, "--auth-hook-timeout", timeout.String(),
		"--auth-hook-max-in-flight", "8", "--auth-hook-failures", "1", "--auth-hook-cooldown", "1s")

	base := runtime.NumGoroutine()
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	lines := runAuthJS(t, ts.URL, "flood", "200", "websocket")
	close(stop)
	<-sampled

	res := lines[0]
	if res["ev"] != "flood" || res["accepted"].(float64) != 0 {
		t.Fatalf("flood against a hanging backend: %v", res)
	}
	refused := res["refused"].(map[string]any)
	total := 0
	for key, n := range refused {
		total += int(n.(float64))
		switch key {
		case "auth_timeout|authentication unavailable: no answer within 500ms, retry later",
			"auth_busy|authentication unavailable: too many connects waiting, retry later",
			"auth_unavailable|authentication unavailable, retry later":
		default:
			t.Errorf("unexpected refusal %q", key)
		}
	}
	if total != flood {
		t.Errorf("%d refusals, want %d: %v", total, flood, refused)
	}
	if refused["auth_timeout|authentication unavailable: no answer within 500ms, retry later"] == nil {
		t.Errorf("no timeout refusal: %v", refused)
	}
	// Only an open breaker answers auth_unavailable.
	if refused["auth_unavailable|authentication unavailable, retry later"] == nil {
		t.Errorf("the breaker never opened: %v", refused)
	}
	if m := backend.maxFlight.Load(); m > maxInFlight {
		t.Errorf("%d hook calls in flight at once, limit %d", m, maxInFlight)
	}
	// Calls reach the backend only while the breaker is closed (until 3
	// failures) or for one probe per cool-down.
	if c := backend.calls.Load(); c > maxInFlight+10 {
		t.Errorf("the hanging backend got %d calls during the flood", c)
	}
	// Each client holds a WebSocket connection (a goroutine or two) until
	// refused; the hook adds none past its in-flight bound. (A hook that
	// called the hanging backend for every connect would add at least
	// three per connect: the client transport's two, the server's.)
	if p := int(peak.Load()); p > base+2*flood+64 {
		t.Errorf("goroutines peaked at %d (base %d) during the flood of %d", p, base, flood)
	}
	t.Logf("flood: %v; backend calls %d, most in flight %d; goroutines base %d, peak %d", refused, backend.calls.Load(), backend.maxFlight.Load(), base, peak.Load())
	waitFor(t, 15*time.Second, func() bool { return runtime.NumGoroutine() <= base+20 })

	// Still hanging: a client now is refused, by the open breaker or by
	// the timeout of the one probe a cool-down allows.
	before := backend.calls.Load()
	ref := runAuthJS(t, ts.URL, "cases", casesArg(t, []authCase{{Name: "still-down", Want: "refused"}}))[0]
	if code := ref["data"].(map[string]any)["code"]; code != "auth_unavailable" && code != "auth_timeout" {
		t.Errorf("while the backend hangs: %v", ref)
	}
	if n := backend.calls.Load() - before; n > 1 {
		t.Errorf("%d calls reached the hanging backend for one connect", n)
	}

	// The backend recovers: after the cool-down a probe succeeds, the
	// breaker closes, and every client is accepted again.
	backend.hang.Store(false)
	acc := runAuthJS(t, ts.URL, "until-accepted", "15000")
	t.Logf("recovery: %v", acc[0])
	// Closed again: a burst twice the in-flight bound all goes to the
	// backend (the excess waits for a free call) and is accepted.
	before = backend.calls.Load()
	res = runAuthJS(t, ts.URL, "flood", "20")[0]
	if res["accepted"].(float64) != 20 || backend.calls.Load()-before != 20 {
		t.Errorf("after recovery: %v, %d backend calls", res, backend.calls.Load()-before)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuthFlags(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	none := func(string) string { return "" }
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	good := filepath.Join(dir, "good")
	_ = os.WriteFile(short, []byte("tiny\n"), 0o600)
	_ = os.WriteFile(good, []byte(authTestSecret+"\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string // in the error; "" for success
	}{
		{[]string{"--auth", "jwt"}, "needs keys"},
		{[]string{"--auth", "jwt", "--auth-jwt-secret-file", short}, "random bytes"},
		{[]string{"--auth", "jwt", "--auth-jwt-secret-file", good}, ""},
		{[]string{"--auth", "jwt", "--auth-jwt-secret-file", good, "--auth-jwt-secret", authTestSecret}, "not both"},
		{[]string{"--auth", "jwt", "--auth-jwt-keys-file", filepath.Join(dir, "missing.pem")}, "--auth-jwt-keys-file"},
		{[]string{"--auth", "jwt", "--auth-jwt-jwks-url", "http://127.0.0.1:1/jwks"}, "JWKS"},
		{[]string{"--auth", "hook"}, "--auth-hook-url"},
		{[]string{"--auth", "hook", "--auth-hook-url", "ftp://x"}, "http://"},
		{[]string{"--auth", "kerberos"}, "unknown --auth"},
	} {
		o, err := parseFlags(c.args, none)
		if err != nil {
			t.Fatal(err)
		}
		srv, closer, err := newServer(o, logger)
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v", c.args, err)
				continue
			}
			_ = srv.Shutdown(context.Background())
			if closer != nil {
				_ = closer.Close()
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}
