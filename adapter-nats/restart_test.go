package natsadapter_test

import (
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
)

const natsServerBin = "/usr/sbin/nats-server"

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNATS runs a private nats-server on port, with extra arguments
// (JetStream: "-js", "-sd", dir), until the test ends or the returned stop
// is called.
func startNATS(t *testing.T, port int, extra ...string) (stop func()) {
	t.Helper()
	cmd := exec.Command(natsServerBin, append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}, extra...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("nats-server (Debian package nats-server) is needed at %s: %v", natsServerBin, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			_ = c.Close()
			return stop
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("private nats-server did not start")
	return stop
}

// The NATS server dies and comes back on the same port, twice: the
// brokers reconnect, subscriptions return (a namespace first used during
// the outage subscribes once NATS answers), broadcasts cross nodes again,
// and local delivery never stops (adaptertest.RunRecovery).
func TestServerRestart(t *testing.T) {
	port := freePort(t)
	stop := startNATS(t, port)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	adaptertest.RunRecovery(t, adaptertest.Recovery{
		Brokers: func(t *testing.T, logger *slog.Logger) (adapter.Broker, adapter.Broker) {
			bA, err := natsadapter.NewBroker(natsadapter.Options{URL: url, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = bA.Close() })
			bB, err := natsadapter.NewBroker(natsadapter.Options{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = bB.Close() })
			return bA, bB
		},
		Interrupt: func(*testing.T) { stop() },
		Restore:   func(t *testing.T) { stop = startNATS(t, port) },
	})
}
