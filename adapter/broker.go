package adapter

import (
	"context"
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
