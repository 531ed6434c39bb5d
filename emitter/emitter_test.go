package emitter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/emitter"
)

type target struct {
	name string
	pub  func(t *testing.T) (emitter.Publisher, adapter.Factory, string)
}

func targets() []target {
	return []target{
		{"bus", func(t *testing.T) (emitter.Publisher, adapter.Factory, string) {
			bus := adapter.NewBus()
			prefix := adaptertest.Prefix(t)
			return bus, adapter.NewCluster(bus, adapter.ClusterConfig{Prefix: prefix}), prefix
		}},
		// A broker without pattern subscriptions, like NATS, AMQP and Kafka:
		// single-room emits must still arrive.
		{"bus-without-patterns", func(t *testing.T) (emitter.Publisher, adapter.Factory, string) {
			bus := adapter.NewBus()
			prefix := adaptertest.Prefix(t)
			return bus, adapter.NewCluster(noPatterns{bus}, adapter.ClusterConfig{Prefix: prefix}), prefix
		}},
	}
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s: %v", what, err)
}

func TestEmitter(t *testing.T) {
	ctx := context.Background()
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			pub, factory, prefix := tg.pub(t)
			a := adaptertest.NewNode("A", "/jobs", factory)
			b := adaptertest.NewNode("B", "/jobs", factory)
			t.Cleanup(func() { _ = a.Adapter.Close(); _ = b.Adapter.Close() })
			a.Connect("a1", false)
			b.Connect("b1", false)
			b.Connect("b2", false)
			b.Adapter.AddAll("b1", "room1")
			e := emitter.New(pub, emitter.Options{Prefix: prefix}).Of("jobs")

			// To a room: only b1, with binary.
			if err := e.To("room1").Emit(ctx, "done", "job-7", []byte{1, 2}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "b1 gets the room event", func() error {
				if got := b.Received("b1"); !slices.Equal(got, []string{`done["job-7","AQI="]`}) {
					return fmt.Errorf("b1 got %v", got)
				}
				return nil
			})
			// To a sid on another node; everyone except b2.
			if err := e.To("a1").Emit(ctx, "direct", 1); err != nil {
				t.Fatal(err)
			}
			if err := e.Except("b2").Emit(ctx, "all"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a1 gets both, b2 none", func() error {
				if got := a.Received("a1"); !slices.Equal(got, []string{`direct[1]`, `all[]`}) {
					return fmt.Errorf("a1 got %v", got)
				}
				return nil
			})
			time.Sleep(200 * time.Millisecond)
			if got := b.Received("b2"); len(got) != 0 {
				t.Errorf("b2 got %v, want nothing (excepted)", got)
			}
			if got := b.Received("b1"); len(got) != 2 {
				t.Errorf("b1 got %v, want the room event and the broadcast", got)
			}

			// Join, leave, disconnect, server-side emit.
			if err := e.To("a1", "b2").SocketsJoin(ctx, "vip"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a1 and b2 join vip", func() error {
				if !slices.Contains(a.Adapter.Rooms("a1"), "vip") || !slices.Contains(b.Adapter.Rooms("b2"), "vip") {
					return errors.New("not yet")
				}
				return nil
			})
			if err := e.To("vip").SocketsLeave(ctx, "vip"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "vip emptied", func() error {
				if slices.Contains(a.Adapter.Rooms("a1"), "vip") || slices.Contains(b.Adapter.Rooms("b2"), "vip") {
					return errors.New("not yet")
				}
				return nil
			})
			if err := e.ServerSideEmit(ctx, "reload", "cfg"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "both nodes get the server-side event", func() error {
				if len(a.ServerEvents()) == 0 || len(b.ServerEvents()) == 0 {
					return errors.New("not yet")
				}
				return nil
			})
			if err := e.To("b1").DisconnectSockets(ctx, true); err != nil {
				t.Fatal(err)
			}
			eventually(t, "b1 disconnected", func() error {
				if gone, closed := b.Gone("b1"); !gone || !closed {
					return errors.New("not yet")
				}
				return nil
			})
			if gone, _ := b.Gone("b2"); gone {
				t.Error("b2 disconnected but not targeted")
			}
		})
	}
}

func TestReservedEvents(t *testing.T) {
	e := emitter.New(adapter.NewBus(), emitter.Options{})
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if err := e.Emit(context.Background(), name); !errors.Is(err, emitter.ErrReserved) {
			t.Errorf("%s: err = %v, want ErrReserved", name, err)
		}
	}
}

// noPatterns is a broker that ignores prefix subscriptions.
type noPatterns struct{ b *adapter.Bus }

func (n noPatterns) Publish(ctx context.Context, channel string, data []byte) error {
	return n.b.Publish(ctx, channel, data)
}

func (n noPatterns) Subscribe(ctx context.Context, sub adapter.Subscription) (io.Closer, error) {
	sub.Prefixes = nil
	return n.b.Subscribe(ctx, sub)
}
