package natsadapter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	calls := map[string]func(ctx context.Context) error{
		"Append": func(ctx context.Context) error {
			_, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["during"]`)})
			return err
		},
		"Head":  func(ctx context.Context) error { _, err := s.Head(ctx, "/"); return err },
		"Since": func(ctx context.Context) error { _, err := s.Since(ctx, "/", before, nil, 10); return err },
		"Save": func(ctx context.Context) error {
			return s.Save(ctx, adapter.Session{PID: "q", Owner: "o"}, time.Minute)
		},
		"Take":   func(ctx context.Context) error { _, err := s.Take(ctx, "p"); return err },
		"Delete": func(ctx context.Context) error { return s.Delete(ctx, "p", "o") },
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := call(cctx)
		cancel()
		if err == nil || errors.Is(err, adapter.ErrNoSession) || errors.Is(err, adapter.ErrOffsetGone) {
			t.Fatalf("%s with NATS down: %v, want a connection error", name, err)
		}
		if !strings.HasPrefix(err.Error(), "nats recovery store: ") {
			t.Fatalf("%s with NATS down: error %q does not name the store", name, err)
		}
	}

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
