package natsadapter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// sharedNATS connects to the shared NATS (JetStream on) on :4222.
func sharedNATS(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("NATS on 127.0.0.1:4222 is needed: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// testStore returns a store with its own stream, subjects and bucket on
// nc, deleted at cleanup.
func testStore(t testing.TB, nc *nats.Conn, opts natsadapter.RecoveryStoreOptions) *natsadapter.RecoveryStore {
	t.Helper()
	s, _ := namedStore(t, nc, opts)
	return s
}

// namedStore is testStore, also returning the stream's (and bucket's)
// name.
func namedStore(t testing.TB, nc *nats.Conn, opts natsadapter.RecoveryStoreOptions) (*natsadapter.RecoveryStore, string) {
	t.Helper()
	name := fmt.Sprintf("siogate_test_%d", time.Now().UnixNano())
	opts.Stream = name
	opts.Subject = "siogate-test." + name
	opts.Bucket = name
	opts.Storage = jetstream.MemoryStorage
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := natsadapter.NewRecoveryStore(ctx, nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Error(err)
			return
		}
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Errorf("deleting stream %s: %v", name, err)
		}
		if err := js.DeleteKeyValue(ctx, name); err != nil {
			t.Errorf("deleting bucket %s: %v", name, err)
		}
	})
	return s, name
}

func TestRecoveryStoreConformance(t *testing.T) {
	nc := sharedNATS(t)
	adaptertest.RunStore(t, func(t *testing.T) adapter.RecoveryStore {
		return testStore(t, nc, natsadapter.RecoveryStoreOptions{})
	})
}

func TestRecoveryStoreTrimmed(t *testing.T) {
	nc := sharedNATS(t)
	ctx := context.Background()
	s := testStore(t, nc, natsadapter.RecoveryStoreOptions{MaxMsgs: 5})
	head, err := s.Head(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	offs := adaptertest.AppendEvents(t, s, "/", 8, 0)
	adaptertest.CheckTrimmed(t, s, "/", offs, 3, head) // MaxMsgs 5 of 8
}

// TestRecoveryStoreStreamRecreated: sequences start over in a stream
// created anew; the old offsets must not be misread.
func TestRecoveryStoreStreamRecreated(t *testing.T) {
	nc := sharedNATS(t)
	ctx := context.Background()
	s, stream := namedStore(t, nc, natsadapter.RecoveryStoreOptions{})
	var offs []string
	for i := range 3 {
		off, err := s.Append(ctx, "/", adapter.StoredPacket{Data: fmt.Appendf(nil, `[%d]`, i)})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	// Another node creates it again, and events are appended.
	again, err := natsadapter.NewRecoveryStore(ctx, nc, natsadapter.RecoveryStoreOptions{
		Stream: stream, Subject: "siogate-test." + stream, Bucket: stream, Storage: jetstream.MemoryStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := again.Append(ctx, "/", adapter.StoredPacket{Data: fmt.Appendf(nil, `["new",%d]`, i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, store := range []*natsadapter.RecoveryStore{s, again} {
		for _, off := range offs {
			if _, err := store.Since(ctx, "/", off, nil, 10); !errors.Is(err, adapter.ErrOffsetGone) {
				t.Fatalf("Since(%q of the deleted stream): %v, want ErrOffsetGone", off, err)
			}
		}
	}
	// The first store's offsets are good again once it read the new
	// stream's info.
	adaptertest.CheckHeadAppend(t, s, again)
}

func TestRecoveryStoreTTLLongerThanBucket(t *testing.T) {
	nc := sharedNATS(t)
	s := testStore(t, nc, natsadapter.RecoveryStoreOptions{SessionTTL: time.Minute})
	err := s.Save(context.Background(), adapter.Session{PID: "p", SID: "s"}, 2*time.Minute)
	if err == nil || !strings.Contains(err.Error(), "SessionTTL") {
		t.Fatalf("Save with a ttl past the bucket's: %v, want an error naming SessionTTL", err)
	}
}

// BenchmarkRecoveryStore measures the store's calls against the shared
// NATS (memory storage).
func BenchmarkRecoveryStore(b *testing.B) {
	adaptertest.BenchStore(b, testStore(b, sharedNATS(b), natsadapter.RecoveryStoreOptions{}))
}
