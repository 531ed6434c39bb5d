package client

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatewayBin is the conformance server built once by TestMain.
var (
	gatewayBin      string
	gatewayBuildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "siogate-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBin = filepath.Join(dir, "conformance")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", gatewayBin, "./examples/conformance")
	cmd.Dir = filepath.Join("..", "gateway")
	if out, err := cmd.CombinedOutput(); err != nil {
		gatewayBuildErr = fmt.Errorf("building ../gateway/examples/conformance: %v\n%s", err, out)
	}
	cancel()
	code := m.Run()
	if sharedRef != nil {
		sharedRef.stop()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// testLogger logs to stderr when SIOGATE_CLIENT_DEBUG is set.
func testLogger() *slog.Logger {
	if os.Getenv("SIOGATE_CLIENT_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // has a value after a Write; see waitOutput
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.written <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is a child process serving Socket.IO on 127.0.0.1:port.
type server struct {
	t      *testing.T
	name   string
	port   int
	argv   []string
	env    []string
	dir    string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	exited chan struct{}
	out    *lockedBuffer
	shared bool // stopped by TestMain rather than by the test
}

func (s *server) url() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// start runs the process and waits until its port accepts connections.
func (s *server) start() {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, s.argv[0], s.argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), s.env...)
	s.out = &lockedBuffer{written: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		s.t.Fatalf("starting %s: %v", s.name, err)
	}
	exited := make(chan struct{})
	s.cmd, s.cancel, s.exited = cmd, cancel, exited
	go func() { _ = cmd.Wait(); close(exited) }()
	if !s.shared {
		s.t.Cleanup(s.stop)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("%s exited early: %s", s.name, s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.stop()
	s.t.Fatalf("%s did not listen on port %d within 20s: %s", s.name, s.port, s.out.String())
}

// waitOutput waits until the process has printed sub at least n times.
func (s *server) waitOutput(sub string, n int) {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for strings.Count(s.out.String(), sub) < n {
		select {
		case <-s.out.written:
		case <-timeout:
			s.t.Fatalf("%s did not print %q %d times within 10s: %s", s.name, sub, n, s.out.String())
		}
	}
}

// stop kills the process (idempotent) and waits for it to exit.
func (s *server) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		fmt.Fprintf(os.Stderr, "%s did not exit within 5s of being killed\n", s.name)
	}
}

// startGateway runs the siogate conformance example on port (0: a free
// port).
func startGateway(t *testing.T, port int) *server {
	t.Helper()
	if gatewayBuildErr != nil {
		t.Fatal(gatewayBuildErr)
	}
	if port == 0 {
		port = freePort(t)
	}
	s := &server{t: t, name: "gateway conformance server", port: port,
		argv: []string{gatewayBin}, env: []string{"PORT=" + strconv.Itoa(port)}}
	s.start()
	return s
}

// The reference server shared by the tests that do not restart it.
var (
	sharedRef     *server
	sharedRefOnce sync.Once
	sharedRefOK   bool
)

// reference returns the shared reference server, starting it on first use.
func reference(t *testing.T) *server {
	t.Helper()
	sharedRefOnce.Do(func() {
		s := newReference(t, 0)
		s.shared = true
		sharedRef = s
		s.start()
		sharedRefOK = true
	})
	if !sharedRefOK {
		t.Fatal("the shared reference server failed to start")
	}
	return sharedRef
}

// startReference runs js/fixtures/reference-server.mjs with node for this
// test only.
func startReference(t *testing.T, port int) *server {
	t.Helper()
	s := newReference(t, port)
	s.start()
	return s
}

func newReference(t *testing.T, port int) *server {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: install Node.js 18+ and run `npm ci` in js/ to run the reference-server tests")
	}
	js, _ := filepath.Abs(filepath.Join("..", "js"))
	if _, err := os.Stat(filepath.Join(js, "node_modules", "socket.io", "package.json")); err != nil {
		t.Fatalf("socket.io is not installed in %s: run `npm ci` in js/ (%v)", js, err)
	}
	if port == 0 {
		port = freePort(t)
	}
	s := &server{t: t, name: "node reference server", port: port, dir: js,
		argv: []string{node, filepath.Join("fixtures", "reference-server.mjs"), strconv.Itoa(port)}}
	return s
}

// recorder collects handler calls on a channel.
type recorder struct{ ch chan *Event }

func newRecorder() *recorder { return &recorder{ch: make(chan *Event, 256)} }

func (r *recorder) handler(ret ...any) EventHandler {
	return func(e *Event) []any {
		r.ch <- e
		return ret
	}
}

// next returns the next event named name, skipping others.
func (r *recorder) next(t *testing.T, name string) *Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-r.ch:
			if e.Name == name {
				return e
			}
		case <-timeout:
			t.Fatalf("no %q event within 5s", name)
			return nil
		}
	}
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// shutdown stops c at test end.
func shutdown(t *testing.T, c *Client) {
	t.Cleanup(c.Shutdown)
}

var transportModes = []struct {
	name       string
	transports []string
	want       string
}{
	{"websocket-only", []string{"websocket"}, "websocket"},
	{"polling-only", []string{"polling"}, "polling"},
	{"upgrade", nil, "websocket"},
}

// waitTransport waits until c uses transport want.
func waitTransport(t *testing.T, c interface{ Transport() string }, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Transport() != want {
		if time.Now().After(deadline) {
			t.Fatalf("transport is %q, want %q", c.Transport(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
