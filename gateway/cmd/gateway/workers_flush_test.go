//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/worker"
)

// TestWorkerAcksAfterReplyReachesNATS: a worker on NATS acknowledges an
// event (on the work queue's connection) only once its reply (on the
// reply broker's connection) has reached the server. Acking first let a
// worker SIGKILLed in between remove an event that was never answered
// (TestWorkersExactlyOnce/nats/kill-a-worker timed out one event in CI).
func TestWorkerAcksAfterReplyReachesNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var b [5]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	stream, prefix := "wflush_"+id, "wflush-"+id

	nc, err := nats.Connect(workersNATSURL)
	if err != nil {
		t.Fatalf("NATS on 127.0.0.1:4222 is needed: %v", err)
	}
	defer nc.Close()
	q, err := natsadapter.NewWorkQueue(ctx, nc, natsadapter.WorkQueueOptions{Stream: stream, Subject: stream, AckWait: 30 * time.Second, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Delete(context.Background()) }()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	queued := func() uint64 {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	replies, err := nc.SubscribeSync(adapter.SafeName(wire.ChannelsFor(prefix, "/").Request))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	proxy := adaptertest.NewCutter(t, "127.0.0.1:4222")
	pub, err := natsadapter.NewBroker(natsadapter.Options{URL: "nats://" + proxy.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ev, err := wire.EncodeWorkerEvent(&wire.WorkerEvent{ID: "ev1", Node: "n1", Nsp: "/", SID: "s1", Event: "job", HasAck: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Push(ctx, ev); err != nil {
		t.Fatal(err)
	}

	proxy.Hold(true)
	w := worker.New(q, pub, worker.Options{Prefix: prefix})
	handled := make(chan struct{})
	var once sync.Once
	w.On("job", func(_ context.Context, ev *worker.Event) error {
		ev.Ack("ok")
		once.Do(func() { close(handled) })
		return nil
	})
	wctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(wctx) }()
	defer func() { stop(); <-ran }()
	select {
	case <-handled:
	case <-ctx.Done():
		t.Fatal("the worker never handled the event")
	}
	// The reply is held on its way: the event must stay in the queue
	// (an ack sent now would be lost work if the worker died). Acking
	// takes milliseconds, so 300ms gives it every chance.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n := queued(); n != 1 {
			t.Fatalf("the event was acked (%d queued) while its reply had not reached NATS", n)
		}
	}
	proxy.Hold(false)
	if m, err := replies.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no reply once released: %v", err)
	} else if r, err := wire.DecodeWorkerReply(m.Data); err != nil || r.EventID != "ev1" {
		t.Fatalf("reply %+v, %v; want the answer to ev1", r, err)
	}
	for deadline := time.Now().Add(10 * time.Second); queued() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the event was not acked after its reply reached NATS")
		}
	}
}
