package natsadapter_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestRecoveryStoreOutage runs the store on a private JetStream server
// (file storage) that is SIGKILLed: every call fails with an error naming
// the store, and once the server is back on the same port and directory,
// what was stored before is still there and the store works again.
func TestRecoveryStoreOutage(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	stop := startNATS(t, port, "-js", "-sd", dir)
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	s, err := natsadapter.NewRecoveryStore(ctx, nc, natsadapter.RecoveryStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["before"]`)})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["kept"]`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, adapter.Session{PID: "p", SID: "s", Namespace: "/", Owner: "o"}, time.Minute); err != nil {
		t.Fatal(err)
	}

	stop()
	adaptertest.Eventually(t, "the client sees the server gone", func() error {
		if nc.IsConnected() {
			return errors.New("still connected")
		}
		return nil
	})
	adaptertest.CheckStoreDown(t, s, "nats recovery store: ", before, 500*time.Millisecond)

	startNATS(t, port, "-js", "-sd", dir)
	adaptertest.Eventually(t, "the store answers again", func() error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := s.Head(cctx, "/")
		return err
	})
	got, err := s.Since(ctx, "/", before, nil, 10)
	if err != nil || len(got) != 1 || got[0].Offset != kept {
		t.Fatalf("Since(offset before the outage): %v, %v; want the kept event", got, err)
	}
	sess, err := s.Take(ctx, "p")
	if err != nil || sess.SID != "s" {
		t.Fatalf("Take of the session saved before the outage: %+v, %v", sess, err)
	}
	next, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["after"]`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Since(ctx, "/", kept, nil, 10); err != nil || len(got) != 1 || got[0].Offset != next {
		t.Fatalf("Since after the restart: %v, %v", got, err)
	}
}
