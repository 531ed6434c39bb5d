//go:build unix

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/client"
)

// dropJetStream deletes the stream and bucket --recovery-store nats made
// for prefix on the shared NATS server.
func dropJetStream(t *testing.T, prefix string) {
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	name := jetStreamName(prefix)
	_ = js.DeleteStream(ctx, "siogate_recovery_"+name)
	_ = js.DeleteKeyValue(ctx, "siogate_sessions_"+name)
}

// TestRecoveryClusterNodeKilled: three gateway processes behind the
// deploy/haproxy.cfg recipe, recovery on with a store the nodes share. The
// unchanged socket.io-client connects through HAProxy; a Go client on
// another node streams numbered chat messages into the lobby; the node
// that holds the JS client is killed with SIGKILL in the middle of the
// stream. The client comes back through HAProxy to a surviving node and
// recovers: same id, every message once and in order.
func TestRecoveryClusterNodeKilled(t *testing.T) {
	bin := buildGateway(t)
	for _, c := range []struct{ adapter, store string }{
		{"redis", "redis"},
		{"nats", "nats"},
		{"kafka", "kafka"},
	} {
		t.Run(c.store, func(t *testing.T) { testRecoveryNodeKilled(t, bin, c.adapter, c.store) })
	}
}

func testRecoveryNodeKilled(t *testing.T, bin, adapterName, store string) {
	if _, err := os.Stat(haproxyBin); err != nil {
		t.Fatalf("HAProxy is needed: apt-get install haproxy (%v)", err)
	}
	jsDir, err := filepath.Abs("../../../js")
	if err != nil {
		t.Fatal(err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := "rectest-" + hex.EncodeToString(rnd[:])
	if store == "nats" {
		t.Cleanup(func() { dropJetStream(t, prefix) })
	}
	var extra []string
	if adapterName == "kafka" {
		// librdkafka's mock cluster (no Kafka server here), with the
		// topics made beforehand, as TestHAProxyKafka does; sessions of
		// --recovery-store kafka go to Redis.
		mc, err := ck.NewMockCluster(1)
		if err != nil {
			t.Fatalf("librdkafka mock cluster: %v", err)
		}
		defer mc.Close()
		extra = []string{"--kafka-url", "kafka://" + mc.BootstrapServers()}
		ch := wire.ChannelsFor(prefix, "/")
		topics := []string{kafkaRecoveryTopic(prefix)}
		for _, c := range []string{ch.Broadcast, ch.Request, ch.Response} {
			topics = append(topics, kafkaadapter.TopicName(c))
		}
		for _, topic := range topics {
			if err := mc.CreateTopic(topic, 1, 1); err != nil {
				t.Fatalf("create topic %s: %v", topic, err)
			}
		}
	}
	nodes, procs, lb := startBehindHAProxy(t, bin, append([]string{"--adapter", adapterName, "--channel-prefix", prefix,
		"--recovery", "--recovery-store", store, "--cookie", "io", "--log-level", "info",
		"--ping-interval", "1s", "--ping-timeout", "1s", "--demo=true"}, extra...)...)

	const count = 200
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	js := exec.CommandContext(ctx, "node", filepath.Join(jsDir, "interop", "recovery-lb.mjs"), "http://"+lb, fmt.Sprint(count))
	js.Dir = jsDir
	stdout, _ := js.StdoutPipe()
	var stderr strings.Builder
	js.Stderr = &stderr
	if err := js.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = js.Process.Kill(); _ = js.Wait() }()
	lines := make(chan map[string]any, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	var log []map[string]any
	next := func(ev string) map[string]any {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("client ended before %q; lines %v; stderr %s", ev, log, stderr.String())
				}
				log = append(log, m)
				if m["ev"] == "error" {
					t.Fatalf("client failed: %v", m)
				}
				if m["ev"] == ev {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q from the client; lines %v", ev, log)
			}
		}
	}
	first := next("connected")
	// The node that holds the client.
	var holder string
	waitFor := time.Now().Add(10 * time.Second)
	for holder == "" && time.Now().Before(waitFor) {
		for _, n := range nodes {
			if status(t, n).Sockets == 1 {
				holder = n
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if holder == "" {
		t.Fatal("no node holds the client")
	}
	var other string
	for _, n := range nodes {
		if n != holder {
			other = n
			break
		}
	}
	producer := client.New(client.Options{Transports: []string{"websocket"}, DisableReconnection: true})
	if err := producer.Connect(ctx, "http://"+other); err != nil {
		t.Fatal(err)
	}
	defer producer.Shutdown()

	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for n := 1; n <= count; n++ {
		<-tk.C
		if n == count/3 {
			_ = syscall.Kill(-procs[holder].cmd.Process.Pid, syscall.SIGKILL)
			t.Logf("killed the node holding the client (%s) after %d messages", holder, n-1)
		}
		if err := producer.Emit("chat", fmt.Sprint(n)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(300 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				_ = producer.Emit("chat", "end")
			}
		}
	}()
	defer close(done)
	res := next("chats")
	var got []int
	for _, v := range res["got"].([]any) {
		got = append(got, int(v.(float64)))
	}
	var reconnects []map[string]any
	for _, m := range log {
		if m["ev"] == "reconnected" {
			reconnects = append(reconnects, m)
		}
	}
	t.Logf("%d of %d messages; reconnections %v", len(got), count, reconnects)
	if len(reconnects) == 0 {
		t.Fatal("the client never reconnected: the kill did not reach it")
	}
	last := reconnects[len(reconnects)-1]
	if last["recovered"] != true || last["id"] != first["id"] {
		t.Errorf("after the node died: %v, want recovered with id %v", last, first["id"])
	}
	want := make([]int, count)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		seen := map[int]int{}
		var odd []int
		for i, n := range got {
			seen[n]++
			if seen[n] > 1 || i > 0 && n < got[i-1] {
				odd = append(odd, n)
			}
		}
		t.Errorf("messages lost, doubled or out of order: got %d; doubled or out of order: %v", len(got), odd)
	}
}
