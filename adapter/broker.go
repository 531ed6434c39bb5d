package adapter

import (
	"context"
	"errors"
	"io"
)

// Broker is all a broker module supplies to the cluster adapter: publish
// bytes on a channel, and deliver the bytes of subscribed channels. It
// knows nothing of Socket.IO. Implementations are safe for concurrent use.
type Broker interface {
	// Publish sends data to every subscriber of channel, this node's
	// included.
	Publish(ctx context.Context, channel string, data []byte) error
	// Subscribe starts delivering messages until the returned Closer is
	// closed. A broker that loses its connection must reconnect and
	// resubscribe by itself.
	Subscribe(ctx context.Context, sub Subscription) (io.Closer, error)
}

// Subscription says what to receive and where to deliver it.
type Subscription struct {
	// Channels are received by exact name.
	Channels []string
	// Prefixes, for brokers that support patterns, receive every channel
	// starting with one of them (Redis PSUBSCRIBE prefix*). Brokers without
	// patterns ignore them; the adapter never depends on them to work among
	// siogate nodes.
	Prefixes []string
	// Deliver is called for each message with the channel name as the
	// adapter gave it, one call at a time, in publish order per publisher.
	// data belongs to the callee.
	Deliver func(channel string, data []byte)
}

// SubscriberCounter is implemented by brokers that can count the
// subscribers of a channel (Redis PUBSUB NUMSUB). The cluster adapter then
// uses it to know how many nodes will answer a request; otherwise nodes
// announce themselves with heartbeats.
type SubscriberCounter interface {
	NumSub(ctx context.Context, channel string) (int, error)
}

// ChannelLister is implemented by brokers that can list the channels that
// have subscribers (Redis PUBSUB CHANNELS). Every node, siogate's and
// Node's, subscribes to a response channel named after its uid, so the
// cluster adapter learns from the list which nodes are alive: a request
// waiting for answers stops waiting for a node whose channel is gone (see
// ClusterConfig.RequestTimeout).
type ChannelLister interface {
	// Channels returns the channels with at least one subscriber whose
	// name starts with prefix.
	Channels(ctx context.Context, prefix string) ([]string, error)
}

// PublishCounter is implemented by brokers whose publish tells how many
// subscribers received the message (Redis PUBLISH). The cluster adapter
// then takes a publish that reached fewer subscribers than the one before
// on the same channel for a sign that the broker restarted and the nodes
// have not all subscribed again: with an Epocher it asks which, and holds
// the message until they have (see ClusterConfig.OutboxLimit).
type PublishCounter interface {
	PublishCount(ctx context.Context, channel string, data []byte) (receivers int, err error)
}

// Epocher is implemented by brokers that can tell when the server side
// may have dropped the nodes' subscriptions: the epoch changes when the
// broker server restarted or failed over (Redis: its run id), or when this
// node's connection was replaced (NATS: its reconnections). The cluster
// adapter holds its outbound messages after a change until the other nodes
// subscribed again, and numbers them so that it can send them again.
// A broker that is not a PublishCounter is asked before and after every
// publish, and must answer without a round trip; a PublishCounter is asked
// only when a publish reached fewer subscribers than the one before.
type Epocher interface {
	Epoch(ctx context.Context) (uint64, error)
}

// ErrNoEpoch is returned by an Epocher that cannot tell (a Redis Cluster,
// whose nodes each have their own run id): a publish that reached fewer
// subscribers is then taken for a node that left.
var ErrNoEpoch = errors.New("adapter: the broker cannot tell its epoch")

// SafeName maps a channel name to one made only of letters, digits and
// "_-#/", escaping every other byte as %XX. Brokers whose names give
// meaning to other characters (NATS subjects split on '.', and treat '*'
// and '>' as wildcards) publish and subscribe under SafeName(channel).
// The mapping is one-to-one.
func SafeName(channel string) string {
	const hex = "0123456789ABCDEF"
	safe := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '#' || c == '/'
	}
	n := 0
	for i := 0; i < len(channel); i++ {
		if !safe(channel[i]) {
			n++
		}
	}
	if n == 0 {
		return channel
	}
	b := make([]byte, 0, len(channel)+2*n)
	for i := 0; i < len(channel); i++ {
		c := channel[i]
		if safe(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}
