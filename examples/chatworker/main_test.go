package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/workers"
)

// TestChatWorker runs the chat on a gateway node whose events go to the
// chat worker through Redis (a stream of its own): nicknames, rooms and
// messages all pass through the worker.
func TestChatWorker(t *testing.T) {
	var id [5]byte
	_, _ = rand.Read(id[:])
	prefix, queue := "chatworker-"+hex.EncodeToString(id[:]), "chatworker-q-"+hex.EncodeToString(id[:])
	b, err := redisadapter.NewBroker(redisadapter.Options{URL: "redis://127.0.0.1:6379/0"})
	if err != nil {
		t.Fatalf("the chat worker test needs Redis on 127.0.0.1:6379: %v", err)
	}
	defer b.Close()
	srv := gateway.NewServer(gateway.Config{Adapter: adapter.NewCluster(b, adapter.ClusterConfig{Prefix: prefix})})
	srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		s.Join("lobby")
		return nil
	})
	q := redisadapter.NewWorkQueue(b.Client(), redisadapter.WorkQueueOptions{Stream: queue})
	defer func() { _ = q.Delete(context.Background()) }()
	f, err := workers.Attach(srv, workers.Config{Queue: q, Allow: []string{"nick", "join", "chat"}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	url := et.Serve(t, srv, srv)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- newChatWorker(b, queue, prefix).Run(ctx) }()
	defer func() { cancel(); <-done }()

	alice := et.NewClient(t, client.Options{})
	bob := et.NewClient(t, client.Options{})
	bobChat := et.Record(bob, "/", "chat")
	aliceJoined := et.Record(alice, "/", "joined")
	et.Connect(t, alice, url)
	et.Connect(t, bob, url)
	defer b.Client().Del(context.Background(), "chatworker:nick:"+alice.SID("/"), "chatworker:room:"+alice.SID("/"), "chatworker:room:"+bob.SID("/"))

	if ok := et.Call(t, alice, "/", "nick", "alice"); string(ok.Raw(0)) != "true" {
		t.Fatalf("nick answered %v", ok)
	}
	if ok := et.Call(t, alice, "/", "join", "r1"); string(ok.Raw(0)) != "true" {
		t.Fatalf("join answered %v", ok)
	}
	if got := et.String(t, et.Next(t, aliceJoined), 0); got != "r1" {
		t.Fatalf("joined %q, want r1", got)
	}
	if ok := et.Call(t, bob, "/", "join", "r1"); string(ok.Raw(0)) != "true" {
		t.Fatalf("join answered %v", ok)
	}
	if ok := et.Call(t, alice, "/", "chat", "hello"); string(ok.Raw(0)) != "true" {
		t.Fatalf("chat answered %v", ok)
	}
	var msg struct{ From, Room, Text string }
	if err := et.Next(t, bobChat).Decode(0, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.From != "alice" || msg.Room != "r1" || msg.Text != "hello" {
		t.Fatalf("bob got %+v", msg)
	}
}
