package admin

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/siogate/siogate/gateway/engineio"
)

// adminMeter counts the Engine.IO packets and payload bytes that cross
// the node's transports, for the aggregated events "packetsIn",
// "packetsOut", "bytesIn" and "bytesOut" of server_stats (the packets
// Node's admin-ui server counts). It is an engineio.Meter, the hook the
// Prometheus metrics use too; the counts are atomic and moved into the
// aggregated events when server_stats are taken.
type adminMeter struct{ t *adminTraffic }

type adminTraffic struct {
	packetsIn, packetsOut, bytesIn, bytesOut atomic.Int64
}

func (adminMeter) Refused(*http.Request, engineio.Refusal, int) {}
func (adminMeter) Upgraded(*engineio.Session)                   {}

func (m adminMeter) Received(bytes int) {
	m.t.packetsIn.Add(1)
	m.t.bytesIn.Add(int64(bytes))
}

func (m adminMeter) Sent(packets, bytes int) {
	m.t.packetsOut.Add(int64(packets))
	m.t.bytesOut.Add(int64(bytes))
}

// takeTrafficLocked moves the traffic counted since the last call into
// the aggregated events of the current second; a.mu is held.
func (a *Admin) takeTrafficLocked() {
	now := time.Now().UnixMilli()
	now -= now % 1000
	for _, c := range []struct {
		typ string
		n   *atomic.Int64
	}{
		{"packetsIn", &a.traffic.packetsIn}, {"packetsOut", &a.traffic.packetsOut},
		{"bytesIn", &a.traffic.bytesIn}, {"bytesOut", &a.traffic.bytesOut},
	} {
		if n := c.n.Swap(0); n > 0 {
			a.agg[adminAggKey{at: now, typ: c.typ}] += int(n)
		}
	}
}
