package adapter

import (
	"strconv"
	"sync/atomic"

	"github.com/siogate/siogate/adapter/wire"
)

// ClusterObserver hears what a cluster adapter does with the broker, for
// metrics. One observer may serve the adapters of every namespace. Its
// methods are called synchronously, from many goroutines, and must not
// block. With ClusterConfig.Observer nil (the default) the adapter skips
// them at the cost of a nil check.
type ClusterObserver interface {
	// RequestSent is called for each request queued for the other nodes;
	// typ is a RequestTypeName.
	RequestSent(typ string)
	// RequestTimedOut is called when a request waiting for the other
	// nodes' answers ends before all of them answered.
	RequestTimedOut(typ string)
	// Published is called for each message the broker accepted from the
	// outbound queue; PublishFailed for each attempt it refused (the
	// message stays queued and is tried again).
	Published()
	PublishFailed()
	// Received is called for each message delivered by the broker.
	Received()
	// OutboxDropped is called for each message dropped because the
	// outbound queue was full.
	OutboxDropped()
	// BrokerUp is called when an adapter's view of the broker changes:
	// false when a subscription or a publish fails, true once the broker
	// answers again. Each adapter starts up; one that closes while down
	// reports true, so that downs and ups pair.
	BrokerUp(up bool)
}

// RequestTypeName names a request type of the wire protocol, for a metric
// label: "sockets", "all_rooms", "remote_join", ... and the number for a
// type it does not know.
func RequestTypeName(typ int) string {
	switch typ {
	case wire.TypeSockets:
		return "sockets"
	case wire.TypeAllRooms:
		return "all_rooms"
	case wire.TypeRemoteJoin:
		return "remote_join"
	case wire.TypeRemoteLeave:
		return "remote_leave"
	case wire.TypeRemoteDisconnect:
		return "remote_disconnect"
	case wire.TypeRemoteFetch:
		return "remote_fetch"
	case wire.TypeServerSideEmit:
		return "server_side_emit"
	case wire.TypeBroadcast:
		return "broadcast"
	case wire.TypeClientCount:
		return "client_count"
	case wire.TypeBroadcastAck:
		return "broadcast_ack"
	case wire.TypeHeartbeat:
		return "heartbeat"
	case wire.TypeNodeClose:
		return "node_close"
	}
	return strconv.Itoa(typ)
}

// clusterMeter is an adapter's handle on its observer, with the broker
// state it last reported. The zero value, or a nil obs, reports nothing.
type clusterMeter struct {
	obs  ClusterObserver
	down atomic.Bool
}

// brokerUp reports a change of the broker's state, once per change.
func (m *clusterMeter) brokerUp(up bool) {
	if m == nil || m.obs == nil {
		return
	}
	if m.down.CompareAndSwap(up, !up) {
		m.obs.BrokerUp(up)
	}
}
