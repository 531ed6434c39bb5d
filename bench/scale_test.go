package bench_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/bench"
)

// TestMain lets the test binary serve as a generator process of the
// scale scenarios (they start their own executable).
func TestMain(m *testing.M) {
	if bench.IsShareChild() {
		os.Exit(bench.ShareMain())
	}
	os.Exit(m.Run())
}

// TestScaleScenarios runs hold, fanout and reconnect at a tiny size
// against a real siogate node, in this process and from two generator
// processes spread over two source addresses. It checks that each did
// its work without errors; it asserts nothing about speed.
func TestScaleScenarios(t *testing.T) {
	srv := bench.NewNode(bench.NodeConfig{PingInterval: 150 * time.Millisecond})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	addr := serve(t, bench.WithMem(srv))
	for _, tc := range []struct {
		name, scenario string
		procs, ips     int
	}{
		{"hold", "hold", 0, 0},
		{"hold-procs", "hold", 2, 2},
		{"fanout", "fanout", 0, 0},
		{"fanout-procs", "fanout", 2, 2},
		{"reconnect-procs", "reconnect", 2, 2},
		{"poll-hold-procs", "poll-hold", 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bench.Config{
				Scenario:  tc.scenario,
				Addrs:     []string{addr},
				Clients:   40,
				N:         10,
				Duration:  10 * time.Second,
				Hold:      500 * time.Millisecond,
				Interval:  5 * time.Millisecond,
				Timeout:   10 * time.Second,
				PIDs:      []int{os.Getpid()},
				Procs:     tc.procs,
				SourceIPs: tc.ips,
				MemReport: tc.scenario != "fanout" && tc.scenario != "reconnect",
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := bench.Run(ctx, cfg)
			t.Log(res.Summary())
			if err != nil {
				t.Fatal(err)
			}
			if res.Connected != cfg.Clients || res.StormErrors != 0 {
				t.Errorf("connected %d of %d, %d storm errors", res.Connected, cfg.Clients, res.StormErrors)
			}
			if res.Errors != 0 || res.ProtocolErrors != 0 {
				t.Errorf("%d errors, %d protocol errors: %s", res.Errors, res.ProtocolErrors, res.FirstError)
			}
			if res.Procs != tc.procs {
				t.Errorf("procs = %d, want %d", res.Procs, tc.procs)
			}
			switch tc.scenario {
			case "hold", "poll-hold":
				if res.Pings == 0 {
					t.Error("no heartbeat answered during the hold")
				}
				if len(res.MemAfter) != 1 || res.MemAfter[0].Goroutines == 0 || res.MemAfter[0].RSS == 0 {
					t.Errorf("memory report: %+v", res.MemAfter)
				}
			case "fanout":
				if res.Broadcasts != int(cfg.N) || res.Deliveries != cfg.N*int64(cfg.Clients) {
					t.Errorf("%d broadcasts, %d deliveries; want %d and %d", res.Broadcasts, res.Deliveries, cfg.N, cfg.N*int64(cfg.Clients))
				}
				if res.FanoutP99Micros <= 0 {
					t.Error("no fan-out latency")
				}
			case "reconnect":
				if res.Reconnected != cfg.Clients || res.ReconnectErrors != 0 {
					t.Errorf("reconnected %d of %d, %d errors", res.Reconnected, cfg.Clients, res.ReconnectErrors)
				}
			}
		})
	}
}

// TestRoomsScenario runs the rooms scenario at a tiny size: on one
// siogate node (in this process and from two generator processes), and
// on two-node clusters over the shared Redis (classic and sharded
// pub/sub) and NATS, where every room has members on both nodes and
// each room broadcast must reach every member, whichever node it is on.
// It asserts nothing about speed.
func TestRoomsScenario(t *testing.T) {
	redisCluster := func(sharded string) func(t *testing.T) adapter.Factory {
		return func(t *testing.T) adapter.Factory {
			f, closer, err := redisadapter.New(redisadapter.Options{URL: "redis://127.0.0.1:6379/0" + sharded, Cluster: adapter.ClusterConfig{Prefix: adaptertest.Prefix(t)}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = closer.Close() })
			return f
		}
	}
	for _, tc := range []struct {
		name    string
		nodes   int
		procs   int
		mem     bool // read the memory per room (waits 3s after the joins)
		factory func(t *testing.T) adapter.Factory
	}{
		{"memory", 1, 0, false, func(*testing.T) adapter.Factory { return nil }},
		{"memory-procs", 1, 2, true, func(*testing.T) adapter.Factory { return nil }},
		{"redis-2-nodes", 2, 2, false, redisCluster("")},
		{"redis-sharded-2-nodes", 2, 2, false, redisCluster("?sharded=true")},
		{"nats-2-nodes", 2, 2, true, func(t *testing.T) adapter.Factory {
			f, closer, err := natsadapter.New(natsadapter.Options{URL: "nats://127.0.0.1:4222", Cluster: adapter.ClusterConfig{Prefix: adaptertest.Prefix(t)}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = closer.Close() })
			return f
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.factory(t)
			var addrs []string
			for range tc.nodes {
				srv := bench.NewNode(bench.NodeConfig{Adapter: f, PingInterval: 150 * time.Millisecond})
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					_ = srv.Shutdown(ctx)
				})
				addrs = append(addrs, serve(t, bench.WithMem(srv)))
			}
			// 30 clients, 20 rooms of 3: 60 memberships, 2 per client.
			cfg := bench.Config{
				Scenario:  "rooms",
				Addrs:     addrs,
				Clients:   30,
				Rooms:     20,
				RoomSize:  3,
				N:         100,
				RoomRate:  2000,
				Duration:  10 * time.Second,
				Timeout:   10 * time.Second,
				PIDs:      []int{os.Getpid()},
				Procs:     tc.procs,
				SourceIPs: tc.procs,
				MemReport: tc.mem,
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := bench.Run(ctx, cfg)
			t.Log(res.Summary())
			if err != nil {
				t.Fatal(err)
			}
			if res.Connected != cfg.Clients || res.Errors != 0 || res.ProtocolErrors != 0 {
				t.Errorf("connected %d of %d; %d errors, %d protocol errors: %s", res.Connected, cfg.Clients, res.Errors, res.ProtocolErrors, res.FirstError)
			}
			if res.Memberships != 60 || res.JoinErrors != 0 {
				t.Errorf("%d memberships joined (%d failed), want 60", res.Memberships, res.JoinErrors)
			}
			if res.Broadcasts != 100 || res.Deliveries != 300 || res.Missing != 0 {
				t.Errorf("%d room broadcasts, %d deliveries, %d missing; want 100, 300, 0", res.Broadcasts, res.Deliveries, res.Missing)
			}
			if res.FanoutP99Micros <= 0 || res.SendRate <= 0 {
				t.Errorf("fan-out p99 %v µs, send rate %v", res.FanoutP99Micros, res.SendRate)
			}
			if tc.mem && len(res.MemAfter) != tc.nodes {
				t.Errorf("%d memory reports after the joins, want %d", len(res.MemAfter), tc.nodes)
			}
		})
	}
}
