package bench_test

import (
	"context"
	"os"
	"testing"
	"time"

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
