package metrics

import (
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
)

// The label values known in advance. Their series are created at zero by
// New, so that a query or an alert finds them before the first event
// (and a rate over a counter's first increment is not lost).
var (
	disconnectReasons = []gateway.DisconnectReason{
		gateway.ReasonClientNamespaceDisconnect, gateway.ReasonServerNamespaceDisconnect,
		gateway.ReasonTransportClose, gateway.ReasonTransportError, gateway.ReasonPingTimeout,
		gateway.ReasonParseError, gateway.ReasonServerShutdown, gateway.ReasonForcedClose,
	}
	refusalCauses = []engineio.Refusal{
		engineio.RefusedCORS, engineio.RefusedUnknownTransport, engineio.RefusedUnknownSID,
		engineio.RefusedBadHandshakeMethod, engineio.RefusedBadRequest, engineio.RefusedForbidden,
		engineio.RefusedProtocolVersion, engineio.RefusedPayloadTooLarge,
	}
	limitKinds = []gateway.Limit{
		gateway.LimitEventsPerSecond, gateway.LimitRoomsPerSocket, gateway.LimitPendingAcks,
		gateway.LimitNamespacesPerConnection, gateway.LimitDynamicNamespaces, gateway.LimitConnections,
		gateway.LimitHandshakesPerSecond, gateway.LimitDraining,
	}
	recoveryResults = []gateway.RecoveryCause{
		gateway.RecoveryHit, gateway.RecoveryUnknownSession, gateway.RecoveryOtherNamespace,
		gateway.RecoveryStillConnected, gateway.RecoveryReplayFailed,
	}
	// requestTypes are the requests a node sends (heartbeats go to the
	// broker directly and are not counted).
	requestTypes = []int{
		wire.TypeSockets, wire.TypeAllRooms, wire.TypeRemoteJoin, wire.TypeRemoteLeave,
		wire.TypeRemoteDisconnect, wire.TypeRemoteFetch, wire.TypeServerSideEmit, wire.TypeBroadcast,
		wire.TypeClientCount, wire.TypeBroadcastAck, wire.TypeNodeClose,
	}
)

// initSeries creates the series of the known label values at zero.
func (m *Metrics) initSeries() {
	for _, r := range disconnectReasons {
		m.disconnects.WithLabelValues(string(r))
	}
	for _, c := range refusalCauses {
		m.refusals.WithLabelValues(string(c))
	}
	for _, c := range limitRefusals {
		m.refusals.WithLabelValues(c)
	}
	for _, k := range limitKinds {
		c := limitCounters{hit: m.limits.WithLabelValues(LimitLabel(k))}
		if cause, ok := limitRefusals[k]; ok {
			c.refusal = m.refusals.WithLabelValues(cause)
		}
		m.limitHits = append(m.limitHits, c)
	}
	for _, r := range recoveryResults {
		m.recoveries.WithLabelValues(string(r))
	}
	for _, t := range requestTypes {
		m.requests.WithLabelValues(adapter.RequestTypeName(t))
		m.timeouts.WithLabelValues(adapter.RequestTypeName(t))
	}
}
