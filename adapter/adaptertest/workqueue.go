package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
)

// WorkQueueBroker opens the work queues of one broker for the kit. Each
// subtest uses a queue of its own, whose name (letters, digits and '_')
// the kit gives.
type WorkQueueBroker struct {
	// Create, if set, is called once per subtest before any Open, to make
	// the queue where the broker needs that and to delete it (t.Cleanup)
	// where the broker keeps it.
	Create func(t *testing.T, name string)
	// Open opens one side of the queue name. The consumers of one name must
	// share one group; each call opens its own connection where the broker
	// allows, as separate processes would, and closes it when t ends.
	Open func(t *testing.T, name string) (adapter.WorkQueue, adapter.WorkConsumer)
}

// open returns the opener of one subtest's queue.
func (b WorkQueueBroker) open(t *testing.T) func() (adapter.WorkQueue, adapter.WorkConsumer) {
	name := strings.ReplaceAll(Prefix(t), "-", "_") + "_work"
	if b.Create != nil {
		b.Create(t, name)
	}
	return func() (adapter.WorkQueue, adapter.WorkConsumer) { return b.Open(t, name) }
}

// WorkQueueTraits say what a work queue's broker does.
type WorkQueueTraits struct {
	// Redeliver bounds how long a failed message may take to come back
	// (Redis ClaimIdle, JetStream AckWait, ...).
	Redeliver time.Duration
	// RebalanceDuplicates: consumers joining a group may be handed
	// messages another consumer already took but had not committed (Kafka
	// rebalances); such duplicates are then allowed, and counted.
	RebalanceDuplicates bool
}

// RunWorkQueue checks a work queue: every message pushed reaches one of
// several consumers exactly once, a message whose handler fails is
// delivered again, and Consume returns when its context ends, after its
// handlers.
func RunWorkQueue(t *testing.T, b WorkQueueBroker, traits WorkQueueTraits) {
	t.Run("EachOnce", func(t *testing.T) { workQueueEachOnce(t, b.open(t), traits) })
	t.Run("FailedAgain", func(t *testing.T) { workQueueFailedAgain(t, b.open(t), traits.Redeliver) })
}

func workQueueEachOnce(t *testing.T, open func() (adapter.WorkQueue, adapter.WorkConsumer), traits WorkQueueTraits) {
	q, _ := open()
	const n = 500
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		by   = map[int]int{}
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 3)
	for c := range 3 {
		_, cons := open()
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cons.Consume(ctx, func(_ context.Context, data []byte) error {
				mu.Lock()
				seen[string(data)]++
				by[c]++
				mu.Unlock()
				return nil
			})
			if err != nil && !errors.Is(err, context.Canceled) {
				errs <- err
			}
		}()
	}
	// Eight pushers, each push bounded by Wait (a broker that confirms
	// every message takes a while on a loaded machine).
	var pushers sync.WaitGroup
	pushErr := make(chan error, 8)
	for p := range 8 {
		pushers.Add(1)
		go func() {
			defer pushers.Done()
			for i := p; i < n; i += 8 {
				pctx, pcancel := context.WithTimeout(context.Background(), Wait)
				err := q.Push(pctx, []byte("m"+strconv.Itoa(i)))
				pcancel()
				if err != nil {
					pushErr <- fmt.Errorf("push %d: %w", i, err)
					return
				}
			}
		}()
	}
	pushers.Wait()
	select {
	case err := <-pushErr:
		t.Fatal(err)
	default:
	}
	eventually(t, "every message is consumed", func() error {
		select {
		case err := <-errs:
			t.Fatalf("Consume failed: %v", err)
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < n {
			return fmt.Errorf("%d of %d consumed", len(seen), n)
		}
		return nil
	})
	// Consume returns once its context ends, after its handlers.
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(Wait):
		t.Fatal("Consume did not return within 10s of its context's end")
	}
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for m, k := range seen {
		if k != 1 {
			dups++
			if !traits.RebalanceDuplicates {
				t.Errorf("%s consumed %d times", m, k)
			}
		}
	}
	t.Logf("consumers took %d / %d / %d messages, %d twice", by[0], by[1], by[2], dups)
}

func workQueueFailedAgain(t *testing.T, open func() (adapter.WorkQueue, adapter.WorkConsumer), redeliver time.Duration) {
	q, cons := open()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		tries int
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cons.Consume(ctx, func(_ context.Context, data []byte) error {
			mu.Lock()
			defer mu.Unlock()
			tries++
			if tries == 1 {
				return errors.New("first try fails")
			}
			return nil
		})
	}()
	defer func() { cancel(); <-done }()
	pctx, pcancel := context.WithTimeout(context.Background(), Wait)
	defer pcancel()
	if err := q.Push(pctx, []byte("again")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(Wait + 3*redeliver)
	for {
		mu.Lock()
		n := tries
		mu.Unlock()
		if n >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a failed message was tried %d times in %v", n, Wait+3*redeliver)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
