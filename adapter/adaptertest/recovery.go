package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// Recovery describes a broker interruption for RunRecovery.
type Recovery struct {
	// Brokers returns the brokers of nodes A and B. A's must log to
	// logger (its outage and recovery are checked in the logs) and is the
	// one Interrupt cuts off; B's may stay connected.
	Brokers func(t *testing.T, logger *slog.Logger) (a, b adapter.Broker)
	// Interrupt takes the broker away from node A: a stopped server, a
	// cut connection. It is called twice, each time after Restore.
	Interrupt func(t *testing.T)
	// DuringOutage, when set, runs during each outage once it is logged
	// (checks of a broker's own behaviour while it is down).
	DuringOutage func(t *testing.T, a, b *Node, logs *LogBuffer)
	// Restore brings the broker back; nil when it comes back by itself
	// (a cut connection redialled through the same proxy).
	Restore func(t *testing.T)
	// AfterRecovery, when set, runs after the second outage, once
	// broadcasts cross nodes both ways again and the recovery is logged.
	AfterRecovery func(t *testing.T, a, b *Node, logs *LogBuffer)
	// OutageLog and RecoveryLog are what A's log must come to contain
	// (defaults "connection lost" and "reconnected").
	OutageLog, RecoveryLog string
}

// RunRecovery is the broker-interruption contract every broker module
// passes. Two nodes of namespace "/" (A and B) and two of "/late" (D on
// B's broker from the start, C created on A's broker during the first
// outage) run through two outages in a row (the broker restarted twice):
//
//   - during each outage, A keeps delivering to its own sockets, the
//     outage is logged, and requests that wait for answers (FetchSockets,
//     ServerSideEmit with acks, BroadcastWithAck) end within their
//     timeout with this node's part;
//   - broadcasts made during the outage are held and arrive, in order,
//     once it is over;
//   - a namespace created during the outage (C) serves its own sockets at
//     once and joins the cluster once the broker answers;
//   - after each outage, broadcasts cross nodes again in both directions
//     (A subscribed again), C and D reach each other, and A logs its
//     recovery.
func RunRecovery(t *testing.T, r Recovery) {
	t.Helper()
	outage, recovered := r.OutageLog, r.RecoveryLog
	if outage == "" {
		outage = "connection lost"
	}
	if recovered == "" {
		recovered = "reconnected"
	}
	var logs LogBuffer
	bA, bB := r.Brokers(t, slog.New(slog.NewTextHandler(&logs, nil)))
	cfg := adapter.ClusterConfig{Prefix: Prefix(t), RequestTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond}
	a := NewNode("A", "/", adapter.NewCluster(bA, cfg))
	b := NewNode("B", "/", adapter.NewCluster(bB, cfg))
	d := NewNode("D", "/late", adapter.NewCluster(bB, cfg))
	var c *Node
	t.Cleanup(func() {
		for _, n := range []*Node{a, b, c, d} {
			if n != nil {
				_ = n.Adapter.Close()
			}
		}
	})
	a.Connect("a1", false)
	b.Connect("b1", false)
	d.Connect("d1", false)
	reaches := func(what string, from, to *Node, sid, ev string) {
		t.Helper()
		Eventually(t, what, func() error {
			p, err := socketio.NewEvent(from.Name(), ev, nil)
			if err != nil {
				return err
			}
			_ = from.Adapter.Broadcast(context.Background(), &p, adapter.BroadcastOptions{Rooms: []string{sid}})
			if !slices.Contains(to.Received(sid), ev+"[]") {
				return errors.New("not yet")
			}
			return nil
		})
	}
	loggedTimes := func(what, text string, n int) {
		t.Helper()
		Eventually(t, what+" is logged", func() error {
			if logs.Count(text) < n {
				return errors.New(logs.String())
			}
			return nil
		})
	}

	reaches("A reaches b1 before the outage", a, b, "b1", "before")
	for round := 1; round <= 2; round++ {
		t.Logf("outage %d", round)
		r.Interrupt(t)
		p, _ := socketio.NewEvent("/", "local", nil)
		_ = a.Adapter.Broadcast(context.Background(), &p, adapter.BroadcastOptions{Rooms: []string{"a1"}})
		if !slices.Contains(a.Received("a1"), "local[]") {
			t.Error("local delivery failed during the outage")
		}
		loggedTimes("the outage", outage, round)
		requestsEndInTime(t, a)
		// Broadcasts during the outage are held and sent, in order, once
		// the broker is back.
		for _, ev := range []string{"held", "held-next"} {
			p, _ := socketio.NewEvent("/", fmt.Sprintf("%s%d", ev, round), nil)
			if err := a.Adapter.Broadcast(context.Background(), &p, adapter.BroadcastOptions{Rooms: []string{"b1"}}); err != nil {
				t.Errorf("a broadcast during the outage: %v, want it held", err)
			}
		}
		if round == 1 {
			// A namespace first used during the outage.
			c = NewNode("C", "/late", adapter.NewCluster(bA, cfg))
			c.Connect("c1", false)
			p, _ := socketio.NewEvent("/late", "mine", nil)
			_ = c.Adapter.Broadcast(context.Background(), &p, adapter.BroadcastOptions{})
			if !slices.Contains(c.Received("c1"), "mine[]") {
				t.Error("a namespace created during the outage does not deliver to its own sockets")
			}
		}
		if r.DuringOutage != nil {
			r.DuringOutage(t, a, b, &logs)
		}
		if r.Restore != nil {
			r.Restore(t)
		}
		restored := time.Now()
		reaches("A reaches b1 after the outage", a, b, "b1", fmt.Sprintf("after%d", round))
		reaches("B reaches a1 after the outage (A subscribed again)", b, a, "a1", fmt.Sprintf("back%d", round))
		reaches("D reaches c1 (the namespace created during the outage joined)", d, c, "c1", fmt.Sprintf("join%d", round))
		reaches("C reaches d1", c, d, "d1", fmt.Sprintf("joined%d", round))
		t.Logf("cross-node broadcasts both ways %v after the broker came back", time.Since(restored).Round(time.Millisecond))
		held, next := fmt.Sprintf("held%d[]", round), fmt.Sprintf("held-next%d[]", round)
		Eventually(t, "the broadcasts held during the outage arrive", func() error {
			got := b.Received("b1")
			i, j := slices.Index(got, held), slices.Index(got, next)
			if i < 0 || j < 0 {
				return fmt.Errorf("b1 got %v", got)
			}
			if i > j {
				t.Errorf("held broadcasts arrived out of order: %v", got)
			}
			return nil
		})
		loggedTimes("the recovery", recovered, round)
	}
	for _, ev := range []string{"held1[]", "held-next1[]", "held2[]", "held-next2[]"} {
		if n := count(b.Received("b1"), ev); n != 1 {
			t.Errorf("b1 got %s %d times, want once", ev, n)
		}
	}
	if r.AfterRecovery != nil {
		r.AfterRecovery(t, a, b, &logs)
	}
}

func count(events []string, ev string) int {
	n := 0
	for _, e := range events {
		if e == ev {
			n++
		}
	}
	return n
}

// requestsEndInTime checks that requests waiting for other nodes' answers
// end within their timeout during an outage, with this node's part.
func requestsEndInTime(t *testing.T, a *Node) {
	t.Helper()
	const timeout = time.Second
	within := func(what string, op func(ctx context.Context)) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			op(ctx)
		}()
		select {
		case <-done:
		case <-time.After(timeout + Wait):
			t.Fatalf("%s during the outage did not end within its %v timeout", what, timeout)
		}
	}
	within("FetchSockets", func(ctx context.Context) {
		socks, _ := a.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{})
		if !slices.ContainsFunc(socks, func(s adapter.SocketInfo) bool { return s.ID == "a1" }) {
			t.Errorf("FetchSockets during the outage: %v, want the local a1 among them", socks)
		}
	})
	within("ServerSideEmit with acks", func(ctx context.Context) {
		_, _ = a.Adapter.ServerSideEmit(ctx, "sync", []any{"x"}, true)
	})
	within("BroadcastWithAck", func(ctx context.Context) {
		acks := make(chan string, 4)
		p, _ := socketio.NewEvent("/", "question", nil)
		if _, err := a.Adapter.BroadcastWithAck(ctx, &p, adapter.BroadcastOptions{Rooms: []string{"a1"}}, func(int) {},
			func(_ string, args socketio.Args) { acks <- args.String(0) }); err != nil {
			t.Errorf("BroadcastWithAck during the outage: %v, want the local sockets asked", err)
			return
		}
		select {
		case ack := <-acks:
			if ack != "ack:a1" {
				t.Errorf("BroadcastWithAck during the outage: ack %q, want a1's", ack)
			}
		case <-ctx.Done():
			t.Error("a1 never answered a BroadcastWithAck during the outage")
		}
	})
}
