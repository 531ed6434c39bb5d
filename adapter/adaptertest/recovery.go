package adaptertest

import (
	"context"
	"errors"
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
	// cut connection.
	Interrupt func(t *testing.T)
	// DuringOutage, when set, runs once the outage is logged (checks of
	// a broker's own behaviour while it is down).
	DuringOutage func(t *testing.T, a, b *Node, logs *LogBuffer)
	// Restore brings the broker back; nil when it comes back by itself
	// (a cut connection redialled through the same proxy).
	Restore func(t *testing.T)
	// AfterRecovery, when set, runs once broadcasts cross nodes both ways
	// again and the recovery is logged.
	AfterRecovery func(t *testing.T, a, b *Node, logs *LogBuffer)
	// OutageLog and RecoveryLog are what A's log must come to contain
	// (defaults "connection lost" and "reconnected").
	OutageLog, RecoveryLog string
}

// RunRecovery is the broker-interruption scenario every broker module
// passes: two nodes reach each other; the broker goes away from node A,
// which keeps delivering to its own sockets and logs the outage; the
// broker comes back and broadcasts cross nodes again in both directions
// (so A subscribed again), and A logs its recovery.
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
	t.Cleanup(func() {
		_ = a.Adapter.Close()
		_ = b.Adapter.Close()
	})
	a.Connect("a1", false)
	b.Connect("b1", false)
	reaches := func(what string, from, to *Node, sid, ev string) {
		t.Helper()
		Eventually(t, what, func() error {
			p, err := socketio.NewEvent("/", ev, nil)
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

	logged := func(what, text string) {
		t.Helper()
		Eventually(t, what+" is logged", func() error {
			if !logs.Contains(text) {
				return errors.New(logs.String())
			}
			return nil
		})
	}

	reaches("A reaches b1 before the outage", a, b, "b1", "before")
	r.Interrupt(t)
	p, _ := socketio.NewEvent("/", "local", nil)
	_ = a.Adapter.Broadcast(context.Background(), &p, adapter.BroadcastOptions{Rooms: []string{"a1"}})
	if !slices.Contains(a.Received("a1"), "local[]") {
		t.Error("local delivery failed during the outage")
	}
	logged("the outage", outage)
	if r.DuringOutage != nil {
		r.DuringOutage(t, a, b, &logs)
	}
	if r.Restore != nil {
		r.Restore(t)
	}
	restored := time.Now()
	reaches("A reaches b1 after the outage", a, b, "b1", "after")
	reaches("B reaches a1 after the outage (A subscribed again)", b, a, "a1", "back")
	t.Logf("cross-node broadcasts both ways %v after the broker came back", time.Since(restored).Round(time.Millisecond))
	logged("the recovery", recovered)
	if r.AfterRecovery != nil {
		r.AfterRecovery(t, a, b, &logs)
	}
}
