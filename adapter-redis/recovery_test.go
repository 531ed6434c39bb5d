package redisadapter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/siogate/siogate/adapter/adaptertest"
)

func TestRecoveryStoreConformance(t *testing.T) {
	c := redistest.Client(t)
	adaptertest.RunStore(t, func(t *testing.T) adapter.RecoveryStore {
		s, _ := redistest.Store(t, c, redisadapter.RecoveryStoreOptions{ReadCount: 7})
		return s
	})
}

func TestRecoveryStoreTrimmed(t *testing.T) {
	c := redistest.Client(t)
	ctx := context.Background()
	s, name := redistest.Store(t, c, redisadapter.RecoveryStoreOptions{MaxLen: 10})
	head, err := s.Head(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	var offs []string
	// MAXLEN ~ trims whole stream nodes (100 entries by default): append
	// until the first entry is gone.
	adaptertest.Eventually(t, "the stream is trimmed", func() error {
		off, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["e"]`)})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
		if n, err := c.XRange(ctx, name+":stream", offs[0], offs[0]).Result(); err != nil || len(n) > 0 {
			return fmt.Errorf("first entry still there (%v)", err)
		}
		return nil
	})
	for _, off := range []string{offs[0], head, ""} {
		if _, err := s.Since(ctx, "/", off, nil, 1000); !errors.Is(err, adapter.ErrOffsetGone) {
			t.Fatalf("Since(%q) after the trim: %v, want ErrOffsetGone", off, err)
		}
	}
	last := len(offs) - 1
	got, err := s.Since(ctx, "/", offs[last-3], nil, 1000)
	if err != nil || len(got) != 3 {
		t.Fatalf("Since(a kept offset) = %d packets, %v; want 3", len(got), err)
	}
	if got, err := s.Since(ctx, "/", offs[last], nil, 1000); err != nil || len(got) != 0 {
		t.Fatalf("Since(newest) = %d packets, %v", len(got), err)
	}
}

// BenchmarkRecoveryStore measures the store's calls against the shared
// Redis (the latencies quoted in the report).
func BenchmarkRecoveryStore(b *testing.B) {
	s, _ := redistest.Store(b, redistest.Client(b), redisadapter.RecoveryStoreOptions{})
	adaptertest.BenchStore(b, s)
}

// TestRecoveryStoreOwnerTooLong: the save script reads owners of up to
// 255 bytes (a MessagePack str8); a longer one is refused with an error,
// and a Delete with one deletes nothing.
func TestRecoveryStoreOwnerTooLong(t *testing.T) {
	s, _ := redistest.Store(t, redistest.Client(t), redisadapter.RecoveryStoreOptions{})
	ctx := context.Background()
	max := strings.Repeat("o", 255)
	if err := s.Save(ctx, adapter.Session{PID: "p", SID: "s", Owner: max}, time.Minute); err != nil {
		t.Fatalf("Save with a 255-byte owner: %v", err)
	}
	if err := s.Save(ctx, adapter.Session{PID: "p", SID: "s", Owner: max + "o"}, time.Minute); err == nil || !strings.Contains(err.Error(), "owner longer than 255") {
		t.Fatalf("Save with a 256-byte owner: %v, want an error", err)
	}
	if err := s.Delete(ctx, "p", max+"o"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "p", max); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, "p"); !errors.Is(err, adapter.ErrNoSession) {
		t.Fatalf("Take after the owner's Delete: %v, want ErrNoSession", err)
	}
}
