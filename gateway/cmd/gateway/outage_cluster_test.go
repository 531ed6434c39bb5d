package main

// Broker outages seen from real socket.io-client receivers: two gateway
// processes on a PRIVATE redis-server or nats-server (never the shared
// ones), a numbered chat stream broadcast from node A, the broker killed
// and restarted on the same port mid-stream.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
)

// outageBroker is a private broker process on a fixed port, restartable.
type outageBroker struct {
	kind string // "redis" or "nats"
	addr string
	proc *clusterProc
	out  *clusterLines
}

// startOutageBroker starts a private broker of kind on a free port.
func startOutageBroker(t *testing.T, kind string) *outageBroker {
	t.Helper()
	b := &outageBroker{kind: kind, addr: freeAddr(t)}
	b.start(t)
	return b
}

// start runs the broker on b.addr and waits until it answers.
func (b *outageBroker) start(t *testing.T) {
	t.Helper()
	_, port, _ := net.SplitHostPort(b.addr)
	var cmd *exec.Cmd
	switch b.kind {
	case "redis":
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			t.Fatalf("the outage tests need redis-server (Debian package redis-server): %v", err)
		}
		cmd = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no")
	case "nats":
		bin, err := exec.LookPath("nats-server")
		if err != nil {
			bin = "/usr/sbin/nats-server"
		}
		cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", port)
	}
	b.out = &clusterLines{}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	b.proc = startClusterProc(t, "private "+b.kind+"-server", cmd)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b.answers() {
			return
		}
		if b.proc.exited() {
			t.Fatalf("private %s-server on %s exited at start (%v):\n%s", b.kind, b.addr, b.proc.err, b.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("private %s-server on %s did not answer within 15s:\n%s", b.kind, b.addr, b.out)
}

// answers reports whether the broker answers its protocol's greeting.
func (b *outageBroker) answers() bool {
	c, err := net.DialTimeout("tcp", b.addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if b.kind == "redis" {
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return false
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		return err == nil && strings.HasPrefix(line, "+PONG")
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ")
}

func (b *outageBroker) url() string {
	if b.kind == "redis" {
		return "redis://" + b.addr + "/0"
	}
	return "nats://" + b.addr
}

// startOutageNode starts a gateway process (demo chat on) on the broker.
func startOutageNode(t *testing.T, bin, name string, b *outageBroker, prefix string) (addr string, logs *clusterLines) {
	t.Helper()
	args := []string{"--adapter", b.kind, "--channel-prefix", prefix, "--demo=true", "--log-level", "info"}
	if b.kind == "redis" {
		args = append(args, "--redis-url", b.url())
	} else {
		args = append(args, "--nats-url", b.url())
	}
	n := startGateway(t, "gateway "+name, bin, false, args...)
	return n.addr, n.logs
}

// outageProducer emits the numbered chat stream from node A, one event at
// a time, each waiting for its ack: a handler blocked by a publish would
// show as a slow ack.
type outageProducer struct {
	mu      sync.Mutex
	acked   int
	slowest time.Duration
	err     error
	done    chan struct{}
}

func (p *outageProducer) state() (acked int, slowest time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked, p.slowest, p.err
}

func startOutageProducer(ctx context.Context, c *client.Client, count int, every time.Duration) *outageProducer {
	p := &outageProducer{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for n := 1; n <= count; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			start := time.Now()
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.EmitWithAck(actx, "chat", strconv.Itoa(n))
			cancel()
			took := time.Since(start)
			p.mu.Lock()
			if err != nil {
				p.err = fmt.Errorf("message %d: %w", n, err)
				p.mu.Unlock()
				return
			}
			p.acked = n
			p.slowest = max(p.slowest, took)
			p.mu.Unlock()
		}
	}()
	return p
}

// TestBrokerOutageJSReceivers kills the cluster's broker (Redis, NATS)
// while node A broadcasts a numbered stream (the demo chat handler
// broadcasts each message to the lobby) to socket.io-client receivers on
// node B and on A, for a short outage (about 300ms) and a longer one
// (about 3s), and restarts it on the same port. Every receiver gets every
// message exactly once and in order, and the producer's acks keep coming
// during the outage (publishing never blocks the handler).
func TestBrokerOutageJSReceivers(t *testing.T) {
	nodeBin, jsDir := clusterRequirements(t)
	bin := buildGateway(t)
	for _, kind := range []string{"redis", "nats"} {
		for _, o := range []struct {
			name string
			down int // acks the producer must get while the broker is down
		}{{"short", 20}, {"long", 200}} {
			t.Run(kind+"/"+o.name, func(t *testing.T) { testBrokerOutage(t, bin, nodeBin, jsDir, kind, o.down) })
		}
	}
}

func testBrokerOutage(t *testing.T, bin, nodeBin, jsDir, kind string, downAcks int) {
	const every = 15 * time.Millisecond // one message per tick: ~67/s
	count := 3 * downAcks
	count = max(count, 300)
	broker := startOutageBroker(t, kind)
	prefix := clusterPrefix(t)
	addrA, logsA := startOutageNode(t, bin, "A", broker, prefix)
	addrB, _ := startOutageNode(t, bin, "B", broker, prefix)

	// Receivers: two sockets on B, one on A, in one Node process.
	recv := startJS(t, nodeBin, jsDir, "outage-receivers.mjs", "http://"+addrB, "http://"+addrB, "http://"+addrA)
	t.Cleanup(func() {
		if t.Failed() {
			var evs []string
			for _, m := range recv.log.all(func(m map[string]any) bool { return m["ev"] != "chat" }) {
				evs = append(evs, fmt.Sprint(m))
			}
			t.Logf("receivers' events other than chat: %s", strings.Join(evs, "; "))
		}
	})
	type receiver struct {
		proc *jsProc
		i    float64
		name string
	}
	receivers := []receiver{{recv, 0, "B#0"}, {recv, 1, "B#1"}, {recv, 2, "A#0"}}
	// A Node process may take a while to start on a loaded machine.
	start := time.Now()
	for _, r := range receivers {
		for len(r.proc.log.all(fields("ev", "joined", "i", r.i))) == 0 {
			if time.Since(start) > time.Minute {
				t.Fatalf("%s not in the lobby after a minute", r.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("receivers in the lobby after %v", time.Since(start).Round(time.Millisecond))
	texts := func(r receiver) []string {
		var out []string
		for _, m := range r.proc.log.all(fields("ev", "chat", "i", r.i)) {
			s, _ := m["text"].(string)
			out = append(out, s)
		}
		return out
	}
	// B knows A (heartbeats on NATS, subscriptions on Redis) once a
	// broadcast from A reaches B's receivers: the stream starts after.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	producer := client.New(client.Options{Transports: []string{"websocket"}, DisableReconnection: true})
	if err := producer.Connect(ctx, "http://"+addrA); err != nil {
		t.Fatal(err)
	}
	defer producer.Shutdown()
	waitUntil := func(what string, limit time.Duration, cond func() error) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			err := cond()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v: %v", what, limit, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitUntil("a warm-up broadcast from A reaching every receiver", time.Minute, func() error {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		defer acancel()
		if _, err := producer.EmitWithAck(actx, "chat", "warm-up"); err != nil {
			return err
		}
		for _, r := range receivers {
			if !slices.Contains(texts(r), "warm-up") {
				return fmt.Errorf("%s has not got it", r.name)
			}
		}
		return nil
	})
	numbered := func(r receiver) []int {
		var out []int
		for _, s := range texts(r) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	prod := startOutageProducer(ctx, producer, count, every)
	defer func() {
		cancel()
		<-prod.done
	}()

	producerOK := func() error {
		if _, _, err := prod.state(); err != nil {
			return fmt.Errorf("producer: %w", err)
		}
		return nil
	}
	waitUntil("a third of the stream at every receiver", 60*time.Second, func() error {
		if err := producerOK(); err != nil {
			t.Fatal(err)
		}
		for _, r := range receivers {
			if got := len(numbered(r)); got < count/3 {
				return fmt.Errorf("%s has %d", r.name, got)
			}
		}
		return nil
	})
	broker.proc.kill(t)
	killedAt := time.Now()
	ackedAtKill, _, _ := prod.state()
	// The broker stays away until the producer got downAcks more acks: its
	// handler broadcasts all the while without waiting for the broker.
	waitUntil("the producer's acks during the outage", 30*time.Second, func() error {
		acked, _, err := prod.state()
		if err != nil {
			t.Fatalf("producer during the outage: %v", err)
		}
		if acked < ackedAtKill+downAcks && acked < count {
			return fmt.Errorf("%d acks since the kill", acked-ackedAtKill)
		}
		return nil
	})
	ackedDown, _, _ := prod.state()
	broker.start(t)
	t.Logf("%s down for %v (after message %d); %d acks meanwhile", kind, time.Since(killedAt).Round(time.Millisecond), ackedAtKill, ackedDown-ackedAtKill)
	if ackedDown-ackedAtKill < downAcks {
		t.Fatalf("the stream ended before the outage did (%d acks while down): make it longer", ackedDown-ackedAtKill)
	}
	waitUntil("the producer's last ack", 60*time.Second, func() error {
		acked, _, err := prod.state()
		if err != nil {
			t.Fatal(err)
		}
		if acked < count {
			return fmt.Errorf("%d of %d acked", acked, count)
		}
		return nil
	})
	want := make([]int, count)
	for i := range want {
		want[i] = i + 1
	}
	waitUntil("every message at every receiver", 30*time.Second, func() error {
		for _, r := range receivers {
			if got := numbered(r); len(got) < count {
				return fmt.Errorf("%s has %d of %d", r.name, len(got), count)
			}
		}
		return nil
	})
	for _, r := range receivers {
		if got := numbered(r); !slices.Equal(got, want) {
			t.Errorf("%s: %s", r.name, describeStream(got, count))
		}
		if d := r.proc.log.all(fields("ev", "disconnected", "i", r.i)); len(d) > 0 {
			t.Errorf("%s was disconnected: %v", r.name, d)
		}
	}
	// No ack waited for the broker: the acks kept coming while it was
	// down (the outage lasted until downAcks of them came), and the
	// slowest is below the long outage, with room for a loaded machine.
	if _, slowest, _ := prod.state(); slowest > 2*time.Second {
		t.Errorf("slowest producer ack took %v: a handler waited for the broker", slowest)
	}
	// A short outage may pass unseen (go-redis retries a PUBLISH until
	// the server is back, and the nodes may have subscribed again by then);
	// a long one makes publishes fail, and node A hold its messages.
	held := strings.Contains(logsA.String(), "holding messages")
	t.Logf("node A held messages: %v", held)
	if !held && downAcks >= 100 {
		t.Errorf("node A never logged that it held messages for the other nodes")
	}
}

// describeStream tells what is wrong with a received numbered stream.
func describeStream(got []int, count int) string {
	seen := map[int]int{}
	var doubled, disorder []int
	for i, n := range got {
		seen[n]++
		if seen[n] == 2 {
			doubled = append(doubled, n)
		}
		if i > 0 && n < got[i-1] {
			disorder = append(disorder, n)
		}
	}
	var lost []int
	for n := 1; n <= count; n++ {
		if seen[n] == 0 {
			lost = append(lost, n)
		}
	}
	return fmt.Sprintf("got %d of %d; lost %v; doubled %v; out of order %v", len(got), count, lost, doubled, disorder)
}
