//go:build unix

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const haproxyBin = "/usr/sbin/haproxy"

// buildGateway compiles this binary once for the process tests.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProc runs a command in its own process group, killed at test end.
func startProc(t *testing.T, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", name, b)
		}
	})
	return cmd
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer", url)
}

type nodeStatus struct {
	Connections int `json:"connections"`
	Sockets     int `json:"sockets"`
}

func status(t *testing.T, addr string) nodeStatus {
	t.Helper()
	res, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var s nodeStatus
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// gatewayNode is a gateway process started by startGateway.
type gatewayNode struct {
	*clusterProc
	addr        string // host:port of its Socket.IO listener
	metricsAddr string // of its metrics listener, when one was asked for
	logs        *clusterLines
}

// startGateway starts bin with args on free ports of 127.0.0.1 (--addr, and
// --metrics-addr when withMetrics) and waits until its /readyz answers 200.
// A port is picked, closed and handed over, so another process may take it
// first: the gateway then exits with "address already in use" and is
// started again on new ports, up to three times. Its output is logged if
// the test fails, and a race or panic it reports fails the test.
func startGateway(t *testing.T, name, bin string, withMetrics bool, args ...string) *gatewayNode {
	t.Helper()
	for attempt := 1; ; attempt++ {
		n := &gatewayNode{addr: freeAddr(t), logs: &clusterLines{}}
		ports := []string{"--addr", n.addr}
		if withMetrics {
			n.metricsAddr = freeAddr(t)
			ports = append(ports, "--metrics-addr", n.metricsAddr)
		}
		cmd := exec.Command(bin, append(ports, args...)...)
		cmd.Stdout, cmd.Stderr = n.logs, n.logs
		n.clusterProc = startClusterProc(t, name, cmd)
		t.Cleanup(func() {
			if s := n.logs.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
				t.Errorf("%s reported a race or panic:\n%s", name, s)
			} else if t.Failed() {
				t.Logf("%s log:\n%s", name, s)
			}
		})
		if n.ready(t) {
			return n
		}
		if attempt == 3 {
			t.Fatalf("%s: its ports were taken three times", name)
		}
	}
}

// ready waits for /readyz; false if the process exited because a port was
// taken.
func (n *gatewayNode) ready(t *testing.T) bool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if n.exited() {
			if strings.Contains(n.logs.String(), "address already in use") {
				return false
			}
			t.Fatalf("%s exited (%v):\n%s", n.name, n.err, n.logs)
		}
		if res, err := http.Get("http://" + n.addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 && !n.exited() {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 20s:\n%s", n.name, n.logs)
	return false
}

// startBehindHAProxy starts three gateway processes with args behind the
// deploy/haproxy.cfg recipe, and returns the nodes' addresses, their
// processes and the balancer's address.
func startBehindHAProxy(t *testing.T, bin string, args ...string) (nodes []string, procs map[string]*gatewayNode, lb string) {
	t.Helper()
	procs = map[string]*gatewayNode{}
	for i := range 3 {
		n := startGateway(t, fmt.Sprintf("gateway %d", i+1), bin, false, args...)
		nodes = append(nodes, n.addr)
		procs[n.addr] = n
	}
	lb = freeAddr(t)
	cfg, err := filepath.Abs("../../../deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	startProc(t, []string{"LB_BIND=" + lb, "NODE1=" + nodes[0], "NODE2=" + nodes[1], "NODE3=" + nodes[2]}, haproxyBin, "-f", cfg, "-db")
	waitHTTP(t, "http://"+lb+"/status")
	return nodes, procs, lb
}

// TestHAProxyStickySessions runs the deploy/haproxy.cfg recipe in front of
// three gateway processes, once per broker of this machine (Redis, NATS,
// RabbitMQ): real socket.io clients over polling only, websocket only, and
// polling with upgrade all work through it, they are spread over the three
// nodes, and a chat broadcast reaches every one of them across the nodes.
func TestHAProxyStickySessions(t *testing.T) {
	bin := buildGateway(t)
	for _, adapterName := range []string{"redis", "nats", "amqp"} {
		t.Run(adapterName, func(t *testing.T) { testHAProxy(t, bin, adapterName, nil) })
	}
}

// testHAProxy runs the scenario on one broker; prepare, when set, readies
// the broker for the channel prefix and returns extra gateway flags.
func testHAProxy(t *testing.T, bin, adapterName string, prepare func(prefix string) []string) {
	if _, err := os.Stat(haproxyBin); err != nil {
		t.Fatalf("HAProxy is needed: apt-get install haproxy (%v)", err)
	}
	jsDir, err := filepath.Abs("../../../js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("run npm ci in js/ first: %v", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := "lbtest-" + hex.EncodeToString(rnd[:])
	var extra []string
	if prepare != nil {
		extra = prepare(prefix)
	}
	nodes, _, lb := startBehindHAProxy(t, bin, append(extra, "--adapter", adapterName, "--channel-prefix", prefix, "--cookie", "io", "--log-level", "warn", "--ping-interval", "1s", "--ping-timeout", "1s")...)

	for _, mode := range []string{"polling", "websocket", "both"} {
		t.Run(mode, func(t *testing.T) {
			const clients = 6
			// Start from empty nodes: the previous run's clients are gone
			// (they disconnect; stragglers time out after 2 s).
			deadline := time.Now().Add(10 * time.Second)
			for {
				left := 0
				for _, n := range nodes {
					left += status(t, n).Sockets
				}
				if left == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d sockets left from the previous run", left)
				}
				time.Sleep(100 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join(jsDir, "interop", "lb-clients.mjs"), "http://"+lb, fmt.Sprint(clients), mode)
			cmd.Dir = jsDir
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatalf("node: %v", err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			lines := bufio.NewScanner(stdout)
			next := func() map[string]any {
				if !lines.Scan() {
					t.Fatalf("client script ended early: %s", stderr.String())
				}
				var m map[string]any
				if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
					t.Fatalf("bad line %q", lines.Text())
				}
				return m
			}
			ready := next()
			if ready["ready"] != float64(clients) {
				t.Fatalf("clients ready: %v", ready)
			}
			total := 0
			for i, n := range nodes {
				s := status(t, n)
				if s.Sockets == 0 {
					t.Errorf("node %d has no client: the balancer did not spread them", i+1)
				}
				total += s.Sockets
			}
			if total != clients {
				t.Errorf("%d sockets over the nodes, want %d", total, clients)
			}
			_, _ = io.WriteString(stdin, "go\n")
			res := next()
			if res["received"] != float64(clients) {
				t.Fatalf("broadcast through the balancer: %v", res)
			}
			if errs, _ := res["errors"].([]any); len(errs) > 0 {
				t.Errorf("client errors: %v", errs)
			}
		})
	}
}
