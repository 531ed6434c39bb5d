//go:build unix

package main

// Headless-Chromium test of the chat demo: the gateway built by
// newServer(parseFlags(...)) on 127.0.0.1, driven by
// js/interop/browser.mjs through playwright-core.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const browserChromium = "/usr/bin/chromium"

// browserResult is what browser.mjs prints.
type browserResult struct {
	Ev             string              `json:"ev"`
	Message        string              `json:"message"`
	BrowserVersion string              `json:"browserVersion"`
	Logs           map[string][]string `json:"logs"`
	Status         map[string]string   `json:"status"`
	IOLoaded       bool                `json:"ioLoaded"`
	Problems       []string            `json:"problems"`
	Screenshot     string              `json:"screenshot"`
	Timings        [][2]any            `json:"timings"`
}

type browserStderr struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *browserStderr) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *browserStderr) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestBrowserDemoChat(t *testing.T) {
	jsDir, err := filepath.Abs(filepath.Join("..", "..", "..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the browser test needs Node.js: `node` is not on PATH (%v); install Node.js 18+ and run `npm ci` in %s", err, jsDir)
	}
	clientJS := filepath.Join(jsDir, "node_modules", "socket.io-client", "dist", "socket.io.min.js")
	for _, f := range []string{clientJS, filepath.Join(jsDir, "node_modules", "playwright-core", "package.json")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the browser test needs the npm packages: %v; run `npm ci` in %s", err, jsDir)
		}
	}
	if _, err := os.Stat(browserChromium); err != nil {
		t.Fatalf("the browser test needs Chromium at %s (%v): install the Debian package with `apt-get update && apt-get install -y chromium`", browserChromium, err)
	}

	o, err := parseFlags([]string{"--client-js", clientJS, "--ping-interval", "5s", "--ping-timeout", "5s"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, _, err := newServer(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv) // 127.0.0.1
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})

	dir := os.Getenv("SIOGATE_SCREENSHOT_DIR") // kept after the test when set
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsDir, "interop", "browser.mjs"), ts.URL, dir)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "CHROMIUM_PATH="+browserChromium)
	// Killing node would orphan Chromium: run them in their own process
	// group and kill the group.
	browserProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	var stderr browserStderr
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	// Whatever node left behind (a Chromium it could not close) goes too.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if t.Failed() || err != nil {
		t.Logf("browser.mjs stderr:\n%s", stderr.String())
	}

	var res *browserResult
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var r browserResult
		if json.Unmarshal(sc.Bytes(), &r) == nil && (r.Ev == "result" || r.Ev == "error") {
			res = &r
		}
	}
	if res == nil {
		t.Fatalf("browser.mjs printed no result (exit: %v); stdout:\n%s", err, stdout)
	}
	if res.Ev == "error" {
		t.Fatalf("browser scenario failed: %s", res.Message)
	}
	if err != nil {
		t.Fatalf("browser.mjs exited with %v", err)
	}
	t.Logf("Chromium %s; screenshot: %s; timings (ms): %v", res.BrowserVersion, res.Screenshot, res.Timings)

	for _, p := range []string{"alice", "bob", "carol"} {
		if res.Status[p] != "connected" {
			t.Errorf("%s status %q, want connected", p, res.Status[p])
		}
	}
	if !res.IOLoaded {
		t.Error("the socket.io-client bundle did not load in the page")
	}
	if len(res.Problems) > 0 {
		t.Errorf("page errors: %v", res.Problems)
	}
	count := func(lines []string, want string) int {
		n := 0
		for _, l := range lines {
			if l == want {
				n++
			}
		}
		return n
	}
	for _, p := range []string{"alice", "bob"} {
		for _, m := range []string{"alice: hello from alice", "bob: hi from bob"} {
			if n := count(res.Logs[p], m); n != 1 {
				t.Errorf("%s saw %q %d times, want once; log %q", p, m, n, res.Logs[p])
			}
		}
		if slices.Contains(res.Logs[p], "carol: carol here") {
			t.Errorf("%s saw a message from the green room: %q", p, res.Logs[p])
		}
		if !slices.Contains(res.Logs[p], "joined blue") {
			t.Errorf("%s never joined blue: %q", p, res.Logs[p])
		}
	}
	for _, l := range res.Logs["carol"] {
		if strings.Contains(l, "alice") || strings.Contains(l, "bob") {
			t.Errorf("carol (room green) saw %q; log %q", l, res.Logs["carol"])
		}
	}
	if count(res.Logs["carol"], "carol: carol here") != 1 {
		t.Errorf("carol's own message: log %q", res.Logs["carol"])
	}
	st, err := os.Stat(res.Screenshot)
	if err != nil || st.Size() == 0 {
		t.Errorf("screenshot %s: %v", res.Screenshot, err)
	} else if png, _ := os.ReadFile(res.Screenshot); !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot %s is not a PNG", res.Screenshot)
	}
}

// browserProcessGroup starts cmd in a process group of its own and makes
// its cancellation kill the whole group (node and Chromium).
func browserProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
