package natsadapter_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestBrokerFlush: Publish returns while the message is still on the
// client's side; Flush returns only once the server has it (a worker
// flushes its reply before acknowledging the event, or a SIGKILL between
// the two loses the event's answer).
func TestBrokerFlush(t *testing.T) {
	p := adaptertest.NewCutter(t, "127.0.0.1:4222")
	b, err := natsadapter.NewBroker(natsadapter.Options{URL: "nats://" + p.Addr()})
	if err != nil {
		t.Fatalf("NATS on 127.0.0.1:4222 is needed: %v", err)
	}
	defer b.Close()
	sub, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var id [6]byte
	_, _ = rand.Read(id[:])
	subject := "flushtest-" + hex.EncodeToString(id[:])
	got, err := sub.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.Hold(true)
	if err := b.Publish(ctx, subject, []byte("reply")); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- b.Flush(ctx) }()
	// Flush must not return while the proxy holds the bytes; give it the
	// chance to return wrongly.
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned (%v) while the server could not have the message", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := got.NextMsg(10 * time.Millisecond); err == nil {
		t.Fatal("the server had the message while the proxy held it")
	}
	p.Hold(false)
	if err := <-flushed; err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if m, err := got.NextMsg(5 * time.Second); err != nil || string(m.Data) != "reply" {
		t.Fatalf("after Flush the subscriber has %v, %v; want the message", m, err)
	}
}
