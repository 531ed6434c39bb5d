//go:build linux

package redisadapter_test

// Redis outage: cluster nodes on a PRIVATE redis-server (never the shared
// :6379), which is SIGKILLed and restarted on the same port, twice.

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
)

const outageWait = 10 * time.Second

// privateRedis is a redis-server child process in its own process group.
type privateRedis struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
	done     chan struct{}
	out      *adaptertest.LogBuffer
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
	r.out = &adaptertest.LogBuffer{}
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

// Redis dies and comes back on the same port, twice
// (adaptertest.RunRecovery): go-redis reconnects and resubscribes, a
// namespace first used during the outage joins once Redis answers, and
// once everything is closed no goroutine is left behind.
func TestServerRestart(t *testing.T) {
	bin := redisServerBinary(t)
	baseline := runtime.NumGoroutine()
	t.Run("recovery", func(t *testing.T) {
		r := &privateRedis{bin: bin, dir: t.TempDir(), port: outageFreePort(t)}
		r.start(t)
		t.Cleanup(func() { r.kill(t) })
		url := fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)
		open := func(t *testing.T, logger *slog.Logger) *redisadapter.Broker {
			b, err := redisadapter.NewBroker(redisadapter.Options{URL: url, Logger: logger, HealthInterval: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
		adaptertest.RunRecovery(t, adaptertest.Recovery{
			Brokers: func(t *testing.T, logger *slog.Logger) (adapter.Broker, adapter.Broker) {
				return open(t, logger), open(t, nil)
			},
			Interrupt:   func(t *testing.T) { r.kill(t) },
			Restore:     func(t *testing.T) { r.start(t) },
			OutageLog:   "Redis unreachable",
			RecoveryLog: "Redis reachable again",
		})
	})
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
}
