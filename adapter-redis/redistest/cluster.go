package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a private Redis Cluster of three masters and three replicas
// on free ports of 127.0.0.1, started by a test and stopped at its
// cleanup. Its cluster-node-timeout is 1s, so a killed master's replica
// takes over within a few seconds.
type Cluster struct {
	// Addrs are the six nodes, "127.0.0.1:port".
	Addrs []string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
}

// StartCluster starts the six redis-server processes in a temporary
// directory, joins them with redis-cli --cluster create, and waits until
// every node says the cluster is ok. The test is skipped when
// redis-server or redis-cli is missing; any other failure fails it.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found (install redis-server, 7.0 or later, for the Redis Cluster tests)", bin)
		}
	}
	dir := t.TempDir()
	c := &Cluster{procs: make(map[string]*exec.Cmd)}
	t.Cleanup(c.stop)
	for i := 0; i < 6; i++ {
		port := freeClusterPort(t)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command("redis-server",
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
			"--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0",
			"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)))
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting redis-server on %s: %v", addr, err)
		}
		c.mu.Lock()
		c.procs[addr] = cmd
		c.mu.Unlock()
		c.Addrs = append(c.Addrs, addr)
	}
	for _, addr := range c.Addrs {
		waitFor(t, 10*time.Second, "redis-server "+addr+" answers", func() error {
			cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return cl.Ping(ctx).Err()
		})
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	var out bytes.Buffer
	create := exec.Command("redis-cli", args...)
	create.Stdout, create.Stderr = &out, &out
	if err := create.Run(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out.String())
	}
	c.WaitOK(t, 30*time.Second)
	return c
}

// WaitOK waits until every running node says cluster_state:ok, knows
// every node, and sees the 16384 slots served.
func (c *Cluster) WaitOK(t testing.TB, within time.Duration) {
	t.Helper()
	waitFor(t, within, "the Redis Cluster is ok on every node", func() error {
		for _, addr := range c.Running() {
			info, err := c.command(addr, "cluster", "info")
			if err != nil {
				return err
			}
			for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:6"} {
				if !strings.Contains(info, want) {
					return fmt.Errorf("%s: no %s in\n%s", addr, want, info)
				}
			}
		}
		return nil
	})
}

// Running returns the addresses of the nodes not killed.
func (c *Cluster) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.Addrs {
		if c.procs[a] != nil {
			out = append(out, a)
		}
	}
	return out
}

// Client returns a cluster client on the nodes, closed at cleanup.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// URL returns the redis+cluster:// URL of the nodes with query appended
// (e.g. "sharded=dynamic"; "" for none).
func (c *Cluster) URL(query string) string {
	u := "redis+cluster://" + strings.Join(c.Addrs, ",")
	if query != "" {
		u += "?" + query
	}
	return u
}

// MasterFor returns the address of the master that serves key's slot
// (a shard channel's name is its key), as the given node sees it.
func (c *Cluster) MasterFor(t testing.TB, key string) string {
	t.Helper()
	addr := c.Running()[0]
	slotOut, err := c.command(addr, "cluster", "keyslot", key)
	if err != nil {
		t.Fatal(err)
	}
	slot, _ := strconv.Atoi(strings.TrimSpace(slotOut))
	nodes, err := c.command(addr, "cluster", "nodes")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		for _, r := range f[8:] {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && slot >= l && slot <= h {
				return strings.Split(f[1], "@")[0]
			}
		}
	}
	t.Fatalf("no master serves slot %d:\n%s", slot, nodes)
	return ""
}

// Kill stops the node at addr with SIGKILL, as a crash would.
func (c *Cluster) Kill(t testing.TB, addr string) {
	t.Helper()
	c.mu.Lock()
	cmd := c.procs[addr]
	c.procs[addr] = nil
	c.mu.Unlock()
	if cmd == nil {
		t.Fatalf("no running node at %s", addr)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

func (c *Cluster) stop() {
	c.mu.Lock()
	procs := c.procs
	c.procs = map[string]*exec.Cmd{}
	c.mu.Unlock()
	for _, cmd := range procs {
		if cmd != nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}
}

// Do runs one command on the node at addr and returns its answer as
// text, failing t on an error.
func (c *Cluster) Do(t testing.TB, addr string, args ...any) string {
	t.Helper()
	out, err := c.command(addr, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// MoveSlot reassigns key's slot (a shard channel's, holding no keys) from
// its master to the master at to, as a resharding does, and waits until
// every node agrees.
func (c *Cluster) MoveSlot(t testing.TB, key, to string) {
	t.Helper()
	from := c.MasterFor(t, key)
	slot := strings.TrimSpace(c.Do(t, from, "cluster", "keyslot", key))
	fromID := strings.TrimSpace(c.Do(t, from, "cluster", "myid"))
	toID := strings.TrimSpace(c.Do(t, to, "cluster", "myid"))
	c.Do(t, to, "cluster", "setslot", slot, "importing", fromID)
	c.Do(t, from, "cluster", "setslot", slot, "migrating", toID)
	for _, addr := range append([]string{to, from}, c.Running()...) {
		if info := c.Do(t, addr, "role"); strings.Contains(info, "master") {
			c.Do(t, addr, "cluster", "setslot", slot, "node", toID)
		}
	}
	waitFor(t, 20*time.Second, "every node sees slot "+slot+" at "+to, func() error {
		for _, addr := range c.Running() {
			cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
			m, err := cl.MasterForKey(context.Background(), key)
			_ = cl.Close()
			if err != nil {
				return err
			}
			if got := m.Options().Addr; got != to {
				return fmt.Errorf("%s sees the slot at %s", addr, got)
			}
		}
		return nil
	})
}

// CPUTime returns the CPU time (user and system) the running nodes have
// used so far, read from /proc; 0 where /proc is missing.
func (c *Cluster) CPUTime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var total time.Duration
	for _, cmd := range c.procs {
		if cmd == nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name (which ends with ')'): utime and
		// stime are the 12th and 13th, in clock ticks (100 a second).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.Atoi(f[11])
			s, _ := strconv.Atoi(f[12])
			total += time.Duration(u+s) * 10 * time.Millisecond
		}
	}
	return total
}

// Masters returns the addresses of the running masters.
func (c *Cluster) Masters(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, addr := range c.Running() {
		if strings.Contains(c.Do(t, addr, "role"), "master") {
			out = append(out, addr)
		}
	}
	return out
}

// command runs one command on one node and returns its text answer.
func (c *Cluster) command(addr string, args ...any) (string, error) {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := cl.Do(ctx, args...).Result()
	if err != nil {
		return "", fmt.Errorf("%s %v: %w", addr, args, err)
	}
	return fmt.Sprint(v), nil
}

// freeClusterPort returns a free port whose cluster bus port (+10000) is
// free too.
func freeClusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			_ = l.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port
	}
	t.Fatal("no free port pair for a Redis Cluster node")
	return 0
}

// waitFor polls cond until it returns nil or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
