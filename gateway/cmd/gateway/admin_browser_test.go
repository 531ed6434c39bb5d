//go:build unix

package main

// Headless-Chromium test of --admin-ui: the gateway built by
// newServer(parseFlags(...)) on 127.0.0.1 serves the real
// @socket.io/admin-ui front end, which js/interop/admin-ui.mjs drives
// through playwright-core while two socket.io-client sockets are
// connected. The script asks this test to check the server's state at
// the steps where the UI changed it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
)

// adminUIResult is the last line admin-ui.mjs prints.
type adminUIResult struct {
	Ev             string            `json:"ev"`
	Message        string            `json:"message"`
	BrowserVersion string            `json:"browserVersion"`
	Sids           map[string]string `json:"sids"`
	Screenshots    []string          `json:"screenshots"`
	Problems       []string          `json:"problems"`
	AliceEvents    [][]any           `json:"aliceEvents"`
	BobEvents      [][]any           `json:"bobEvents"`
	BobDisconnects []string          `json:"bobDisconnects"`
	AliceConnected bool              `json:"aliceConnected"`
	Timings        [][2]any          `json:"timings"`
}

// adminUICheck is a question admin-ui.mjs asks about the server's state.
type adminUICheck struct {
	Ev   string `json:"ev"`
	What string `json:"what"`
	Sid  string `json:"sid"`
	Room string `json:"room"`
}

// answer checks the server's state, waiting a little for it to settle.
func (c adminUICheck) answer(srv *gateway.Server) (ok bool, why string) {
	root := srv.Of("/")
	cond := func() (bool, string) {
		switch c.What {
		case "room":
			rooms := root.Rooms(c.Sid)
			return slices.Contains(rooms, c.Room), fmt.Sprintf("socket %s is in rooms %v, want %q among them", c.Sid, rooms, c.Room)
		case "gone":
			_, there := root.Socket(c.Sid)
			return !there, fmt.Sprintf("socket %s is still connected", c.Sid)
		default:
			return false, fmt.Sprintf("unknown check %q", c.What)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, why = cond()
		if ok || time.Now().After(deadline) {
			return ok, why
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBrowserAdminUI(t *testing.T) {
	jsDir, err := filepath.Abs(filepath.Join("..", "..", "..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the admin UI browser test needs Node.js: `node` is not on PATH (%v); install Node.js 18+ and run `npm ci` in %s", err, jsDir)
	}
	uiDir := filepath.Join(jsDir, "node_modules", "@socket.io", "admin-ui", "ui", "dist")
	clientJS := filepath.Join(jsDir, "node_modules", "socket.io-client", "dist", "socket.io.min.js")
	for _, f := range []string{
		filepath.Join(uiDir, "index.html"),
		clientJS,
		filepath.Join(jsDir, "node_modules", "playwright-core", "package.json"),
	} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the admin UI browser test needs the npm packages (js/node_modules): %v; run `npm ci` in %s", err, jsDir)
		}
	}
	if _, err := os.Stat(browserChromium); err != nil {
		t.Fatalf("the admin UI browser test needs Chromium at %s (%v): install the Debian package with `apt-get update && apt-get install -y chromium`", browserChromium, err)
	}

	const user, password = "admin", "correct horse battery staple"
	o, err := parseFlags([]string{
		"--admin-ui", "--admin-ui-dir", uiDir, "--admin-user", user, "--admin-password", password,
		"--client-js", clientJS, "--ping-interval", "5s", "--ping-timeout", "5s",
	}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, closer, err := newServer(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv) // 127.0.0.1
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = closer.Close()
	})

	dir := os.Getenv("SIOGATE_SCREENSHOT_DIR") // kept after the test when set
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsDir, "interop", "admin-ui.mjs"), ts.URL, dir, user, password)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "CHROMIUM_PATH="+browserChromium)
	browserProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	var stderr browserStderr
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var (
		res    *adminUIResult
		lines  bytes.Buffer
		checks int
	)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		lines.Write(line)
		lines.WriteByte('\n')
		var head struct{ Ev string }
		if json.Unmarshal(line, &head) != nil {
			continue
		}
		switch head.Ev {
		case "check":
			var c adminUICheck
			_ = json.Unmarshal(line, &c)
			ok, why := c.answer(srv)
			checks++
			if !ok {
				t.Errorf("server check after a UI action failed: %s", why)
			}
			ans, _ := json.Marshal(map[string]any{"ok": ok, "why": why})
			if _, err := io.WriteString(stdin, string(ans)+"\n"); err != nil {
				t.Errorf("answering admin-ui.mjs: %v", err)
			}
		case "result", "error":
			var r adminUIResult
			if err := json.Unmarshal(line, &r); err == nil {
				res = &r
			}
		}
	}
	_ = stdin.Close()
	err = cmd.Wait()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if t.Failed() || err != nil || res == nil || res.Ev != "result" {
		t.Logf("admin-ui.mjs stderr:\n%s", stderr.String())
	}
	if res == nil {
		t.Fatalf("admin-ui.mjs printed no result (exit: %v); stdout:\n%s", err, lines.String())
	}
	if res.Ev == "error" {
		t.Fatalf("admin UI scenario failed: %s", res.Message)
	}
	if err != nil {
		t.Fatalf("admin-ui.mjs exited with %v", err)
	}
	t.Logf("Chromium %s; timings (ms): %v", res.BrowserVersion, res.Timings)
	for _, p := range res.Screenshots {
		t.Logf("screenshot: %s", p)
	}

	if checks != 3 {
		t.Errorf("%d server checks, want 3 (alice in blue, bob in green, bob gone)", checks)
	}
	if len(res.Problems) > 0 {
		t.Errorf("page problems: %v", res.Problems)
	}
	pings := 0
	for _, e := range res.AliceEvents {
		if len(e) == 2 && e[0] == "admin-ping" {
			if m, ok := e[1].(map[string]any); ok && m["from"] == "admin-ui" {
				pings++
			}
		}
	}
	if pings != 1 {
		t.Errorf("alice got %d admin-ping events from the UI, want 1; events %v", pings, res.AliceEvents)
	}
	for _, e := range res.BobEvents {
		if len(e) > 0 && e[0] == "admin-ping" {
			t.Errorf("bob got alice's admin-ping: %v", res.BobEvents)
		}
	}
	if !slices.Equal(res.BobDisconnects, []string{"io server disconnect"}) {
		t.Errorf("bob's disconnects %v, want [io server disconnect]", res.BobDisconnects)
	}
	if !res.AliceConnected {
		t.Error("alice was disconnected too")
	}
	if len(res.Screenshots) != 6 {
		t.Errorf("screenshots %v, want 6", res.Screenshots)
	}
	for _, p := range res.Screenshots {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 10_000 {
			t.Errorf("screenshot %s: %d bytes, err %v", p, len(b), err)
		}
	}
}

func TestAdminUIFlags(t *testing.T) {
	none := func(string) string { return "" }
	logger := slog.New(slog.DiscardHandler)
	o, err := parseFlags([]string{"--admin-ui", "--admin-ui-dir", t.TempDir()}, none)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newServer(o, logger); err == nil {
		t.Error("--admin-ui with no UI files accepted")
	}
	o, _ = parseFlags([]string{"--admin-ui", "--admin-user", "admin"}, none)
	if _, _, err := newServer(o, logger); err == nil {
		t.Error("--admin-user without --admin-password accepted")
	}
	o, _ = parseFlags(nil, none)
	srv, closer, err := newServer(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	if closer != nil {
		_ = closer.Close()
	}
	if n := srv.ObserverCount(); n != 0 {
		t.Errorf("without --admin-ui the server has %d observers", n)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Error("without --admin-ui /admin/ is served")
	}
}
