package natsadapter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/protocol/socketio"
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

// startNATS runs a private nats-server on port until the test ends or the
// returned stop is called.
func startNATS(t *testing.T, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command(natsServerBin, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
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

// The NATS server dies and comes back on the same port: the brokers
// reconnect, subscriptions return, broadcasts cross nodes again, and local
// delivery never stops.
func TestServerRestart(t *testing.T) {
	port := freePort(t)
	stop := startNATS(t, port)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var logs adaptertest.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond}
	bA, err := natsadapter.NewBroker(natsadapter.Options{URL: url, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer bA.Close()
	bB, err := natsadapter.NewBroker(natsadapter.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer bB.Close()
	a := adaptertest.NewNode("A", "/", adapter.NewCluster(bA, cfg))
	b := adaptertest.NewNode("B", "/", adapter.NewCluster(bB, cfg))
	defer a.Adapter.Close()
	defer b.Adapter.Close()
	a.Connect("a1", false)
	b.Connect("b1", false)
	send := func(n *adaptertest.Node, ev, room string) {
		p, _ := socketio.NewEvent("/", ev, nil)
		_ = n.Adapter.Broadcast(context.Background(), &p, adapter.BroadcastOptions{Rooms: []string{room}})
	}
	adaptertest.Eventually(t, "A reaches b1", func() error {
		send(a, "before", "b1")
		if !slices.Contains(b.Received("b1"), "before[]") {
			return errors.New("not yet")
		}
		return nil
	})

	stop()
	send(a, "local", "a1")
	if !slices.Contains(a.Received("a1"), "local[]") {
		t.Error("local delivery failed while NATS was down")
	}
	adaptertest.Eventually(t, "the outage is logged", func() error {
		if !bytes.Contains([]byte(logs.String()), []byte("connection lost")) {
			return errors.New(logs.String())
		}
		return nil
	})
	startNATS(t, port)
	adaptertest.Eventually(t, "A reaches b1 after the restart", func() error {
		send(a, "after", "b1")
		if !slices.Contains(b.Received("b1"), "after[]") {
			return errors.New("not yet")
		}
		return nil
	})
	adaptertest.Eventually(t, "B reaches a1 after the restart", func() error {
		send(b, "back", "a1")
		if !slices.Contains(a.Received("a1"), "back[]") {
			return errors.New("not yet")
		}
		return nil
	})
	if !bytes.Contains([]byte(logs.String()), []byte("reconnected")) {
		t.Errorf("recovery not logged: %s", logs.String())
	}
}
