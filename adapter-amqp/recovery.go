package amqpadapter

// The RabbitMQ recovery store keeps connection state recovery's events in
// a RabbitMQ stream (a queue declared with x-queue-type=stream, RabbitMQ
// 3.9 or later with the stream_queue feature flag; the rabbitmq_stream
// plugin is not needed: the stream is reached over AMQP 0-9-1), and leaves
// the sessions to another store.
//
// What AMQP 0-9-1 offers on a stream, and what this store makes of it:
//
//   - A publish does not learn the offset its message gets (only a
//     consumer sees x-stream-offset). So each event carries a random
//     nonce, and its offset is "<publish time in ms>:<nonce>".
//   - A consumer attaches at a numeric offset, "first", "last", "next" or
//     a timestamp, and then waits for more: there is no high-water mark.
//     So Since first publishes a mark (a message of no namespace) and
//     reads up to it; it attaches at the offset's publish time less
//     AttachMargin (timestamps select whole chunks, so it may start
//     earlier, never later), skips to the offset's own message, and
//     returns the events after it. An offset whose message is not found
//     (another stream's, garbage, or trimmed by retention) is
//     ErrOffsetGone; so is "" once the stream's first message is not
//     offset 0. A publisher clock ahead of RabbitMQ's by more than
//     AttachMargin makes offsets unrecoverable (ErrOffsetGone), never
//     misread.
//   - Head publishes a mark too and returns its offset: a stream has no
//     "newest offset" to read over AMQP 0-9-1. Every connection thus
//     writes one small message.
//   - Retention (x-max-age, x-max-length-bytes) drops whole segments:
//     events may outlive MaxAge by a segment's worth.
//   - Since reads every message of every namespace from AttachMargin
//     before the offset up to now, through one consumer: its cost grows
//     with the stream's traffic over the disconnection (measured about
//     0.2 ms a message on a loaded 2-core machine, so 1,000 messages
//     missed in all namespaces take some 200 ms).
//
// Sessions: RabbitMQ has no key-value store, and a queue cannot give an
// atomic take of one session among many nor an owner-guarded write. The
// store takes a separate session store (Sessions) and delegates Save,
// Take and Delete to it. Without a shared one (Redis, NATS), RabbitMQ
// only serves recovery with the memory store, when the client comes back
// to the node it left.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// RecoveryStoreOptions configure a RabbitMQ recovery store.
type RecoveryStoreOptions struct {
	// Queue is the stream's name (default "siogate.recovery").
	Queue string
	// MaxAge is the stream's x-max-age (default 2 minutes, the gateway's
	// default MaxDisconnectionDuration).
	MaxAge time.Duration
	// MaxLengthBytes is the stream's x-max-length-bytes (default 64 MiB).
	MaxLengthBytes int64
	// SegmentBytes is the stream's x-stream-max-segment-size-bytes, the
	// grain of retention (default 4 MiB).
	SegmentBytes int64
	// AttachMargin is how far before an offset's publish time Since
	// starts reading (default 10s): it covers the clock skew between the
	// gateway nodes and RabbitMQ.
	AttachMargin time.Duration
	// Prefetch is the consumer prefetch while Since reads (default 256).
	Prefetch int
	// Sessions keeps the sessions (required): a shared store (the Redis
	// or NATS one) for a cluster, adapter.MemoryStore for one node.
	Sessions adapter.RecoveryStore
}

// RecoveryStore keeps events in a RabbitMQ stream and sessions in
// Sessions. It is an adapter.SharedStore, shared across nodes when
// Sessions is.
type RecoveryStore struct {
	// DelegatedSessions does Save, Take, Delete and SharedAcrossNodes
	// with opts.Sessions.
	adapter.DelegatedSessions

	conn *amqp.Connection
	opts RecoveryStoreOptions

	mu  sync.Mutex
	pub *amqp.Channel // confirm mode; nil until needed, or after a failure
}

var _ adapter.SharedStore = (*RecoveryStore)(nil)

// ErrNoSessionStore is returned by NewRecoveryStore without Sessions.
var ErrNoSessionStore = errors.New("amqpadapter: the recovery store needs a session store (Sessions): RabbitMQ cannot take a session atomically")

// NewRecoveryStore declares the stream on conn, which it does not close.
func NewRecoveryStore(ctx context.Context, conn *amqp.Connection, opts RecoveryStoreOptions) (*RecoveryStore, error) {
	if opts.Sessions == nil {
		return nil, ErrNoSessionStore
	}
	if opts.Queue == "" {
		opts.Queue = "siogate.recovery"
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 2 * time.Minute
	}
	if opts.MaxLengthBytes <= 0 {
		opts.MaxLengthBytes = 64 << 20
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 4 << 20
	}
	if opts.AttachMargin <= 0 {
		opts.AttachMargin = 10 * time.Second
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 256
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, storeErr("opening a channel", err)
	}
	defer ch.Close()
	_, err = ch.QueueDeclare(opts.Queue, true, false, false, false, amqp.Table{
		"x-queue-type":                    "stream",
		"x-max-age":                       strconv.FormatInt(max(int64(opts.MaxAge/time.Second), 1), 10) + "s",
		"x-max-length-bytes":              opts.MaxLengthBytes,
		"x-stream-max-segment-size-bytes": opts.SegmentBytes,
	})
	if err != nil {
		return nil, storeErr("declaring stream "+opts.Queue, err)
	}
	return &RecoveryStore{DelegatedSessions: adapter.DelegatedSessions{Sessions: opts.Sessions}, conn: conn, opts: opts}, ctx.Err()
}

func storeErr(op string, err error) error {
	return fmt.Errorf("amqp recovery store: %s: %w", op, err)
}

// streamPacket is a message of the stream (MessagePack). A mark has no
// namespace and no data.
type streamPacket struct {
	Nonce uint64 `msgpack:"n"`
	// At is the publish time in ms, the offset's first part.
	At          int64    `msgpack:"t"`
	Nsp         string   `msgpack:"s,omitempty"`
	Mark        bool     `msgpack:"m,omitempty"`
	Rooms       []string `msgpack:"r,omitempty"`
	Except      []string `msgpack:"e,omitempty"`
	Data        []byte   `msgpack:"d,omitempty"`
	Attachments [][]byte `msgpack:"a,omitempty"`
}

// channel returns the publishing channel, opening it when needed.
func (r *RecoveryStore) channel() (*amqp.Channel, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pub != nil && !r.pub.IsClosed() {
		return r.pub, nil
	}
	ch, err := r.conn.Channel()
	if err != nil {
		return nil, storeErr("opening a channel", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, storeErr("confirm mode", err)
	}
	r.pub = ch
	return ch, nil
}

// publish appends m to the stream, waits for RabbitMQ's confirm, and
// returns m's offset.
func (r *RecoveryStore) publish(ctx context.Context, m streamPacket) (string, error) {
	now := time.Now()
	m.Nonce, m.At = rand.Uint64()|1, now.UnixMilli() // the nonce is never 0
	body, err := msgpack.Marshal(m)
	if err != nil {
		return "", storeErr("encoding an event", err)
	}
	ch, err := r.channel()
	if err != nil {
		return "", err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", r.opts.Queue, false, false, amqp.Publishing{
		ContentType: "application/msgpack", DeliveryMode: amqp.Persistent, Timestamp: now, Body: body,
	})
	if err != nil {
		return "", storeErr("publish to "+r.opts.Queue, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return "", storeErr("confirm from "+r.opts.Queue, err)
	}
	if !ok {
		return "", storeErr("publish to "+r.opts.Queue, errors.New("refused by RabbitMQ (nack)"))
	}
	return formatOffset(&m), nil
}

// Append implements adapter.RecoveryStore.
func (r *RecoveryStore) Append(ctx context.Context, nsp string, p adapter.StoredPacket) (string, error) {
	return r.publish(ctx, streamPacket{Nsp: nsp, Rooms: p.Rooms, Except: p.Except, Data: p.Data, Attachments: p.Attachments})
}

// Head implements adapter.RecoveryStore: the offset of a mark it appends.
func (r *RecoveryStore) Head(ctx context.Context, nsp string) (string, error) {
	return r.publish(ctx, streamPacket{Mark: true})
}

func formatOffset(m *streamPacket) string {
	return strconv.FormatInt(m.At, 10) + ":" + strconv.FormatUint(m.Nonce, 36)
}

// parseOffset reads "<ms>:<nonce>".
func parseOffset(s string) (ms int64, nonce uint64, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	ms, err := strconv.ParseInt(a, 10, 64)
	if err != nil || ms < 0 || strconv.FormatInt(ms, 10) != a {
		return 0, 0, false
	}
	nonce, err = strconv.ParseUint(b, 36, 64)
	if err != nil || nonce == 0 || strconv.FormatUint(nonce, 36) != b {
		return 0, 0, false
	}
	return ms, nonce, true
}

// Since implements adapter.RecoveryStore.
func (r *RecoveryStore) Since(ctx context.Context, nsp, offset string, rooms []string, limit int) ([]adapter.StoredPacket, error) {
	var (
		nonce  uint64
		attach any = int64(0) // "": from the stream's very first message
	)
	if offset != "" {
		ms, n, ok := parseOffset(offset)
		if !ok {
			return nil, adapter.ErrOffsetGone
		}
		nonce = n
		attach = time.UnixMilli(ms).Add(-r.opts.AttachMargin)
	}
	end, err := r.publish(ctx, streamPacket{Mark: true})
	if err != nil {
		return nil, err
	}
	_, endNonce, _ := parseOffset(end)

	ch, err := r.conn.Channel()
	if err != nil {
		return nil, storeErr("opening a channel", err)
	}
	defer ch.Close()
	if err := ch.Qos(r.opts.Prefetch, 0, false); err != nil {
		return nil, storeErr("qos", err)
	}
	tag := "siogate-since-" + strconv.FormatUint(rand.Uint64(), 36)
	deliveries, err := ch.ConsumeWithContext(ctx, r.opts.Queue, tag, false, false, false, false, amqp.Table{"x-stream-offset": attach})
	if err != nil {
		return nil, storeErr("consume from "+r.opts.Queue, err)
	}
	var (
		out   []adapter.StoredPacket
		found = offset == ""
		first = true
	)
	for n := 0; ; n++ {
		var d amqp.Delivery
		select {
		case <-ctx.Done():
			return nil, storeErr("reading "+r.opts.Queue, ctx.Err())
		case dd, ok := <-deliveries:
			if !ok {
				return nil, storeErr("reading "+r.opts.Queue, errors.New("the consumer was cancelled"))
			}
			d = dd
		}
		if n%(r.opts.Prefetch/2+1) == 0 {
			if err := d.Ack(true); err != nil {
				return nil, storeErr("ack on "+r.opts.Queue, err)
			}
		}
		if first && offset == "" {
			if off, _ := d.Headers["x-stream-offset"].(int64); off != 0 {
				return nil, adapter.ErrOffsetGone // the stream's first messages were dropped
			}
		}
		first = false
		var m streamPacket
		if wire.Unmarshal(d.Body, &m) != nil {
			continue
		}
		if m.Nonce == endNonce {
			break
		}
		if !found {
			found = m.Nonce == nonce
			continue
		}
		if m.Mark || m.Nsp != nsp {
			continue
		}
		p := adapter.StoredPacket{Offset: formatOffset(&m), Rooms: m.Rooms, Except: m.Except, Data: m.Data, Attachments: m.Attachments}
		if !p.Reaches(rooms) {
			continue
		}
		if len(out) == limit {
			return nil, adapter.ErrTooManyMissed
		}
		out = append(out, p)
	}
	if !found {
		return nil, adapter.ErrOffsetGone
	}
	return out, nil
}
