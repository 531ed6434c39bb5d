package bench_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/bench"
)

// serve runs h on a fresh 127.0.0.1 port for the test's lifetime.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = hs.Close()
	})
	return ln.Addr().String()
}

// siogateNode starts an in-process benchnode.
func siogateNode(t *testing.T, factory adapter.Factory) string {
	t.Helper()
	srv := bench.NewNode(bench.NodeConfig{Adapter: factory})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return serve(t, srv)
}

// smoke runs a tiny scenario and checks it did something without errors.
func smoke(t *testing.T, pid int, scenario string, clients int, addrs ...string) bench.Result {
	t.Helper()
	cfg := bench.Config{
		Scenario:   scenario,
		Addrs:      addrs,
		Clients:    clients,
		N:          100_000,
		Duration:   400 * time.Millisecond,
		Warmup:     100 * time.Millisecond,
		Hold:       100 * time.Millisecond,
		Timeout:    5 * time.Second,
		PIDs:       []int{pid},
		Label:      "test",
		Attachment: 64 << 10,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := bench.Run(ctx, cfg)
	t.Log(res.Summary())
	if err != nil {
		t.Fatalf("%s: %v", scenario, err)
	}
	if res.Ops <= 0 {
		t.Errorf("%s: %d operations", scenario, res.Ops)
	}
	if res.Errors != 0 || res.ProtocolErrors != 0 || res.Missing != 0 {
		t.Errorf("%s: %d missing, %d errors, %d protocol errors: %s", scenario, res.Missing, res.Errors, res.ProtocolErrors, res.FirstError)
	}
	if strings.Contains(scenario, "broadcast") || scenario == "cross-node" || scenario == "rooms" {
		if res.Deliveries <= 0 {
			t.Errorf("%s: no deliveries", scenario)
		}
	}
	if res.ServerCPU < 0 || res.PeakRSS <= 0 {
		t.Errorf("%s: server cpu %v, peak rss %d", scenario, res.ServerCPU, res.PeakRSS)
	}
	return res
}

func TestSiogateScenarios(t *testing.T) {
	addr := siogateNode(t, nil)
	for _, tc := range []struct {
		scenario string
		clients  int
	}{
		{"echo", 4},
		{"binary-echo", 2},
		{"broadcast", 20},
		{"connect", 50},
		{"polling-echo", 2},
	} {
		t.Run(tc.scenario, func(t *testing.T) { smoke(t, os.Getpid(), tc.scenario, tc.clients, addr) })
	}
}

func TestCrossNodeOnBus(t *testing.T) {
	bus := adapter.NewBus()
	factory := adapter.NewCluster(bus, adapter.ClusterConfig{Prefix: "bench-test"})
	a := siogateNode(t, factory)
	b := siogateNode(t, factory)
	res := smoke(t, os.Getpid(), "cross-node", 20, a, b)
	if res.Nodes != 2 {
		t.Errorf("nodes = %d", res.Nodes)
	}
}

func TestFloorScenarios(t *testing.T) {
	addr := serve(t, bench.NewFloor())
	for _, tc := range []struct {
		scenario string
		clients  int
	}{
		{"echo", 4},
		{"binary-echo", 2},
		{"broadcast", 20},
		{"connect", 50},
		{"polling-echo", 4},
	} {
		t.Run(tc.scenario, func(t *testing.T) { smoke(t, os.Getpid(), tc.scenario, tc.clients, addr) })
	}
}

// TestNodeScenarios runs the Node socket.io fixture when node and the npm
// packages of js/ are installed.
func TestNodeScenarios(t *testing.T) {
	script, _ := filepath.Abs("../js/fixtures/bench-server.mjs")
	if _, err := os.Stat("../js/node_modules/socket.io"); err != nil {
		t.Skip("js/node_modules not installed")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	_ = ln.Close()
	cmd := exec.Command(nodeBin, script, port)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "listening"
		ready <- ok
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("node fixture did not start")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("node fixture did not start in 15s")
	}
	for _, tc := range []struct {
		scenario string
		clients  int
	}{
		{"echo", 4},
		{"binary-echo", 2},
		{"broadcast", 20},
		{"polling-echo", 2},
		{"rooms", 20}, // the fixture's join and to-room
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			smoke(t, cmd.Process.Pid, tc.scenario, tc.clients, addr)
		})
	}
}

func TestRejectsOtherHosts(t *testing.T) {
	_, err := bench.Run(context.Background(), bench.Config{Scenario: "echo", Addrs: []string{"10.0.0.1:80"}})
	if err == nil {
		t.Fatal("a non-loopback address was accepted")
	}
}
