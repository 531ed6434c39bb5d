//go:build linux

package redisadapter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestRecoveryStoreOutage runs the store on a private redis-server that is
// SIGKILLed: every call fails with an error naming the store and the
// command, and the store works again once the server is back (an empty
// one: what was stored is gone, and the old offsets are refused).
func TestRecoveryStoreOutage(t *testing.T) {
	r := &privateRedis{bin: redisServerBinary(t), dir: t.TempDir(), port: outageFreePort(t)}
	r.start(t)
	defer func() { r.kill(t) }()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), MaxRetries: -1, DialTimeout: 500 * time.Millisecond})
	defer c.Close()
	s := redisadapter.NewRecoveryStore(c, redisadapter.RecoveryStoreOptions{})
	ctx := context.Background()
	off, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["before"]`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, adapter.Session{PID: "p", SID: "s", Owner: "o"}, time.Minute); err != nil {
		t.Fatal(err)
	}

	r.kill(t)
	// Each error names the store and the command that failed.
	for name, err := range adaptertest.CheckStoreDown(t, s, "redis recovery store: ", off, 5*time.Second) {
		cmd := map[string]string{"Append": "XADD", "Head": "XINFO", "Since": "XRANGE", "Save": "SET", "Take": "GETDEL", "Delete": "DEL"}[name]
		if !strings.Contains(err.Error(), cmd) {
			t.Fatalf("%s with Redis down: error %q does not name %s", name, err, cmd)
		}
	}

	r.start(t)
	storeEventually(t, "the store answers again", func() error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := s.Head(cctx, "/")
		return err
	})
	// The restarted server is empty: the old offset and session are gone.
	if _, err := s.Since(ctx, "/", off, nil, 10); !errors.Is(err, adapter.ErrOffsetGone) {
		t.Fatalf("Since(offset of the lost stream): %v, want ErrOffsetGone", err)
	}
	if _, err := s.Take(ctx, "p"); !errors.Is(err, adapter.ErrNoSession) {
		t.Fatalf("Take of a lost session: %v, want ErrNoSession", err)
	}
	for name, call := range adaptertest.StoreCalls(s, off) {
		if err := call(ctx); err != nil && !errors.Is(err, adapter.ErrNoSession) && !errors.Is(err, adapter.ErrOffsetGone) {
			t.Fatalf("%s after the restart: %v", name, err)
		}
	}
	adaptertest.CheckHeadAppend(t, s, s)
}

// storeEventually waits until check succeeds, failing after outageWait.
func storeEventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(outageWait)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting until %s: %v", outageWait, what, err)
}
