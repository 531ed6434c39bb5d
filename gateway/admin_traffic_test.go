package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/admin"
)

// TestAdminTrafficAggregates: server_stats carry the packets and bytes in
// and out, counted through the engine's meter hook.
func TestAdminTrafficAggregates(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	instrument(t, ts.srv, admin.Options{ServerStatsInterval: 50 * time.Millisecond})
	ac := dialAdmin(t, ts, "/admin", "")
	c := ts.dial(t, "websocket")
	c.connect(t, "/", "")
	const events = 20
	event := `42["x","` + strings.Repeat("y", 100) + `"]`
	for range events {
		c.send(t, event)
	}
	// The counts are spread over the stats of the following ticks.
	sum := map[string]int{}
	ac.waitMatch(t, "server_stats", func(a []json.RawMessage) bool {
		var st struct {
			AggregatedEvents []struct {
				Type  string
				Count int
			}
		}
		if err := json.Unmarshal(a[0], &st); err != nil {
			t.Fatal(err)
		}
		for _, e := range st.AggregatedEvents {
			sum[e.Type] += e.Count
		}
		return sum["packetsIn"] >= events+1 && sum["bytesIn"] >= events*(len(event)-1)
	})
	if sum["packetsOut"] < 2 || sum["bytesOut"] <= 0 {
		t.Fatalf("aggregated traffic %v", sum)
	}
	if n := ts.srv.ObserverCount(); n != 1 {
		t.Fatalf("%d observers", n)
	}
}
