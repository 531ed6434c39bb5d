//go:build linux

package redisadapter_test

// Redis outage: two cluster nodes on a PRIVATE redis-server (never the
// shared :6379), which is SIGKILLed and restarted on the same port.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/protocol/socketio"
)

const outageWait = 10 * time.Second

// outageLog is a goroutine-safe buffer for the slog handler.
type outageLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *outageLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *outageLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// privateRedis is a redis-server child process in its own process group.
type privateRedis struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
	done     chan struct{}
	out      *outageLog
}

func redisServerBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	const debian = "/usr/bin/redis-server"
	if _, err := os.Stat(debian); err != nil {
		t.Fatalf("the outage test needs redis-server (Debian package redis-server, %s): not on PATH and %v", debian, err)
	}
	return debian
}

func outageFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs redis-server on r.port and waits until it answers PING.
func (r *privateRedis) start(t *testing.T) {
	t.Helper()
	r.out = &outageLog{}
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", r.dir, "--logfile", "")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r.cmd.WaitDelay = 2 * time.Second
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(r.cmd, r.done)
	deadline := time.Now().Add(outageWait)
	for time.Now().Before(deadline) {
		if r.ping() {
			return
		}
		select {
		case <-r.done:
			t.Fatalf("redis-server on port %d exited at start:\n%s", r.port, r.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.kill(t)
	t.Fatalf("redis-server on port %d did not answer PING within %v:\n%s", r.port, outageWait, r.out)
}

func (r *privateRedis) ping() bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// kill SIGKILLs the server's process group and waits for it (bounded).
func (r *privateRedis) kill(t *testing.T) {
	t.Helper()
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Errorf("redis-server did not exit within 5s of SIGKILL")
	}
}

func outageEvent(t *testing.T, name string) *socketio.Packet {
	t.Helper()
	p, err := socketio.NewEvent("/outage", name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

func outageEventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(outageWait)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting until %s: %v", outageWait, what, err)
}

func outageHas(n *adaptertest.Node, sid, ev string) bool { return slices.Contains(n.Received(sid), ev) }

func outageCount(n *adaptertest.Node, sid, ev string) int {
	k := 0
	for _, e := range n.Received(sid) {
		if e == ev {
			k++
		}
	}
	return k
}

func TestRedisOutage(t *testing.T) {
	bin := redisServerBinary(t)
	baseline := runtime.NumGoroutine()
	began := time.Now()

	r := &privateRedis{bin: bin, dir: t.TempDir(), port: outageFreePort(t)}
	r.start(t)
	defer func() { r.kill(t) }()
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)

	logs := &outageLog{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var brokers []*redisadapter.Broker
	for _, name := range []string{"A", "B"} {
		b, err := redisadapter.NewBroker(redisadapter.Options{URL: url, Logger: logger.With("broker", name), HealthInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatalf("broker %s: %v", name, err)
		}
		brokers = append(brokers, b)
	}
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: time.Second, Logger: logger.With("layer", "adapter")}
	A := adaptertest.NewNode("A", "/outage", adapter.NewCluster(brokers[0], cfg))
	B := adaptertest.NewNode("B", "/outage", adapter.NewCluster(brokers[1], cfg))
	var C *adaptertest.Node // created during the outage
	closed := false
	closeAll := func() {
		if closed {
			return
		}
		closed = true
		for _, n := range []*adaptertest.Node{A, B, C} {
			if n == nil {
				continue
			}
			if err := n.Adapter.Close(); err != nil {
				t.Logf("closing %s: %v", n, err)
			}
		}
		for _, b := range brokers {
			_ = b.Close()
		}
	}
	defer closeAll()
	A.Connect("a1", false)
	B.Connect("b1", false)
	ctx := context.Background()

	outageEventually(t, "both nodes count 2 nodes", func() error {
		for _, n := range []*adaptertest.Node{A, B} {
			if k, err := n.Adapter.ServerCount(ctx); err != nil || k != 2 {
				return fmt.Errorf("%s: %d nodes, %v", n, k, err)
			}
		}
		return nil
	})

	// Before: broadcasts cross nodes; Local ones stay home.
	if err := A.Adapter.Broadcast(ctx, outageEvent(t, "before-ab"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := B.Adapter.Broadcast(ctx, outageEvent(t, "before-ba"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := A.Adapter.Broadcast(ctx, outageEvent(t, "local-before"), adapter.BroadcastOptions{Flags: adapter.Flags{Local: true}}); err != nil {
		t.Fatal(err)
	}
	outageEventually(t, "broadcasts cross nodes before the outage", func() error {
		if !outageHas(B, "b1", "before-ab[]") || !outageHas(A, "a1", "before-ba[]") {
			return fmt.Errorf("a1 got %v, b1 got %v", A.Received("a1"), B.Received("b1"))
		}
		return nil
	})
	if !outageHas(A, "a1", "local-before[]") {
		t.Errorf("a1 missed a local broadcast: %v", A.Received("a1"))
	}

	// The outage.
	r.kill(t)
	killedAt := time.Now()
	outageEventually(t, "the broker logs the outage", func() error {
		if strings.Count(logs.String(), "Redis unreachable") < 2 {
			return errors.New("no outage logged by both brokers yet")
		}
		return nil
	})
	t.Logf("outage logged %v after the kill", time.Since(killedAt).Round(time.Millisecond))

	// Local delivery keeps working; remote operations fail, bounded.
	bounded := func(what string, limit time.Duration, op func(ctx context.Context) error) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		start := time.Now()
		err := op(ctx)
		if el := time.Since(start); el > limit+500*time.Millisecond {
			t.Errorf("%s during the outage took %v (limit %v)", what, el, limit)
		}
		t.Logf("%s during the outage: err=%v", what, err)
		return err
	}
	err := bounded("Broadcast", 3*time.Second, func(ctx context.Context) error {
		return A.Adapter.Broadcast(ctx, outageEvent(t, "during"), adapter.BroadcastOptions{})
	})
	if err == nil {
		t.Error("Broadcast during the outage returned no error; the other nodes missed it")
	}
	if !outageHas(A, "a1", "during[]") {
		t.Errorf("a1 missed a broadcast of its own node during the outage: %v", A.Received("a1"))
	}
	if err := bounded("local Broadcast", 3*time.Second, func(ctx context.Context) error {
		return A.Adapter.Broadcast(ctx, outageEvent(t, "local-during"), adapter.BroadcastOptions{Flags: adapter.Flags{Local: true}})
	}); err != nil {
		t.Errorf("a Local broadcast failed during the outage: %v", err)
	}
	if !outageHas(A, "a1", "local-during[]") {
		t.Errorf("a1 missed a local broadcast during the outage")
	}
	_ = bounded("BroadcastWithAck", 3*time.Second, func(ctx context.Context) error {
		acks := make(chan string, 4)
		nodes, err := A.Adapter.BroadcastWithAck(ctx, outageEvent(t, "question"), adapter.BroadcastOptions{},
			func(int) {}, func(_ string, a socketio.Args) { acks <- a.String(0) })
		if err != nil {
			t.Errorf("BroadcastWithAck during the outage: %v, want the local sockets asked", err)
			return err
		}
		select {
		case a := <-acks:
			if a != "ack:a1" || nodes != 1 {
				t.Errorf("BroadcastWithAck during the outage: ack %q from %d nodes, want a1's from this node only", a, nodes)
			}
		case <-ctx.Done():
			t.Error("a1 never answered a BroadcastWithAck during the outage")
		}
		return nil
	})
	_ = bounded("FetchSockets", 2*time.Second, func(ctx context.Context) error {
		socks, err := A.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{})
		if err == nil {
			t.Error("FetchSockets during the outage reported no error")
		}
		if len(socks) != 1 || socks[0].ID != "a1" {
			t.Errorf("FetchSockets during the outage: %v, want the local a1", socks)
		}
		return err
	})
	_ = bounded("ServerSideEmit", 2*time.Second, func(ctx context.Context) error {
		_, err := A.Adapter.ServerSideEmit(ctx, "sync", []any{"x"}, true)
		if err == nil {
			t.Error("ServerSideEmit with acks during the outage reported no error")
		}
		return err
	})
	if !strings.Contains(logs.String(), "publish failed") {
		t.Errorf("the failed publish was not logged:\n%s", logs)
	}
	// A namespace created during the outage (a dynamic namespace's first
	// client, say) starts local and must join the cluster once Redis is
	// back.
	_ = bounded("creating a node", 5*time.Second, func(context.Context) error {
		C = adaptertest.NewNode("C", "/outage", adapter.NewCluster(brokers[0], cfg))
		return nil
	})
	C.Connect("c1", false)
	if !strings.Contains(logs.String(), "Redis unreachable at subscription") {
		t.Errorf("the subscription during the outage was not logged:\n%s", logs)
	}
	if err := C.Adapter.Broadcast(ctx, outageEvent(t, "c-local"), adapter.BroadcastOptions{Flags: adapter.Flags{Local: true}}); err != nil || !outageHas(C, "c1", "c-local[]") {
		t.Errorf("a node created during the outage cannot deliver locally: %v, c1 got %v", err, C.Received("c1"))
	}

	// Redis comes back on the same port: the brokers reconnect and
	// resubscribe by themselves.
	r.start(t)
	restartedAt := time.Now()
	outageEventually(t, "both brokers log the recovery", func() error {
		if strings.Count(logs.String(), "Redis reachable again") < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	outageEventually(t, "the three nodes count 3 nodes", func() error {
		for _, n := range []*adaptertest.Node{A, B, C} {
			if k, err := n.Adapter.ServerCount(ctx); err != nil || k != 3 {
				return fmt.Errorf("%s: %d nodes, %v", n, k, err)
			}
		}
		return nil
	})
	probe := 0
	outageEventually(t, "broadcasts cross nodes again both ways", func() error {
		probe++
		_ = A.Adapter.Broadcast(ctx, outageEvent(t, fmt.Sprintf("probe-ab-%d", probe)), adapter.BroadcastOptions{Rooms: []string{"b1"}})
		_ = B.Adapter.Broadcast(ctx, outageEvent(t, fmt.Sprintf("probe-ba-%d", probe)), adapter.BroadcastOptions{Rooms: []string{"a1"}})
		time.Sleep(50 * time.Millisecond)
		if !slices.ContainsFunc(B.Received("b1"), func(e string) bool { return strings.HasPrefix(e, "probe-ab-") }) ||
			!slices.ContainsFunc(A.Received("a1"), func(e string) bool { return strings.HasPrefix(e, "probe-ba-") }) {
			return errors.New("no probe crossed yet")
		}
		return nil
	})
	t.Logf("cluster traffic back %v after the restart (%d probes)", time.Since(restartedAt).Round(time.Millisecond), probe)
	if err := A.Adapter.Broadcast(ctx, outageEvent(t, "after"), adapter.BroadcastOptions{}); err != nil {
		t.Fatalf("Broadcast after the recovery: %v", err)
	}
	if err := B.Adapter.Broadcast(ctx, outageEvent(t, "to-c1"), adapter.BroadcastOptions{Rooms: []string{"c1"}}); err != nil {
		t.Fatalf("Broadcast after the recovery: %v", err)
	}
	outageEventually(t, "b1 and c1 get the broadcasts after the recovery", func() error {
		if !outageHas(B, "b1", "after[]") || !outageHas(C, "c1", "after[]") || !outageHas(C, "c1", "to-c1[]") {
			return fmt.Errorf("b1 got %v, c1 got %v", B.Received("b1"), C.Received("c1"))
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	for _, x := range []struct {
		n       *adaptertest.Node
		sid, ev string
	}{{A, "a1", "after[]"}, {B, "b1", "after[]"}, {C, "c1", "after[]"}, {C, "c1", "to-c1[]"}} {
		if k := outageCount(x.n, x.sid, x.ev); k != 1 {
			t.Errorf("%s got %s %d times after the recovery, want once", x.sid, x.ev, k)
		}
	}
	if outageHas(B, "b1", "during[]") || outageHas(B, "b1", "local-during[]") || outageHas(B, "b1", "local-before[]") {
		t.Errorf("b1 got what it should not have: %v", B.Received("b1"))
	}
	socks, err := B.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{})
	if err != nil || len(socks) != 3 {
		t.Errorf("FetchSockets after the recovery: %d sockets, %v; want a1, b1 and c1", len(socks), err)
	}

	// Everything closed: the goroutines return to the baseline.
	closeAll()
	r.kill(t)
	deadline := time.Now().Add(outageWait)
	n := runtime.NumGoroutine()
	for n > baseline && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > baseline {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines left after closing everything, baseline %d:\n%s", n, baseline, buf)
	}
	t.Logf("outage test: %v", time.Since(began).Round(time.Millisecond))
}
