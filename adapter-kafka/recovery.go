package kafkaadapter

// The Kafka recovery store keeps connection state recovery's events in a
// Kafka topic, and leaves the sessions to another store.
//
// Events: one topic (default "siogate.recovery") of one partition for
// every namespace, the namespace as each record's key and the event in
// MessagePack as its value, with a random 64-bit nonce. An offset is
// "<partition offset>:<the record's nonce>": Since reads from that record
// on and checks its nonce, so that an offset of another topic, or of this one before it
// was deleted and created again (offsets start over at 0), is refused
// rather than misread. Since reads up to the high-water mark it found
// first; an offset whose next record is below the log start offset (the
// topic's retention dropped it) is ErrOffsetGone. Retention is the
// topic's (retention.ms, set to Retention when this store creates the
// topic); Kafka drops whole segments, so events may outlive it.
//
// Sessions: Kafka alone cannot give what the gateway needs of them. A
// recovery must take a session at most once when two nodes race for it,
// and a late save of an old connection must not replace a newer one:
// both are compare-and-set, and Kafka has no conditional write, nor a
// read-and-delete. A compacted topic with every node replaying it into an
// in-memory index only makes both nodes believe they won. Exactly-once
// could be built on the total order of one partition (each Take appends
// a claim and reads back to it; the first claim in the log wins), at the
// cost of every node consuming the whole session log and a produce plus a
// read-back per Take. This store does not: it takes a separate session
// store (Sessions), the Redis or the NATS one, and delegates Save, Take
// and Delete to it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// RecoveryStoreOptions configure a Kafka recovery store.
type RecoveryStoreOptions struct {
	// URL lists the bootstrap brokers, as Options.URL.
	URL string
	// Transport, when set, carries every request (TLS, SASL, client id).
	Transport *kafka.Transport
	// Topic holds the events (default "siogate.recovery"). It must have
	// one partition.
	Topic string
	// CreateTopic creates the topic when missing; an error meaning that
	// it exists must be reported as nil. The default sends CreateTopics
	// with one partition, ReplicationFactor and retention.ms = Retention.
	CreateTopic func(ctx context.Context, topic string) error
	// ReplicationFactor of the topic the default CreateTopic creates
	// (default -1: the broker's default).
	ReplicationFactor int
	// Retention of the topic the default CreateTopic creates (default 2
	// minutes, the gateway's default MaxDisconnectionDuration).
	Retention time.Duration
	// RequiredAcks an Append waits for (default kafka.RequireAll).
	RequiredAcks kafka.RequiredAcks
	// Sessions keeps the sessions (required): a shared store (the Redis
	// or NATS one) for a cluster. Its events are not used.
	Sessions adapter.RecoveryStore
}

// RecoveryStore keeps events in Kafka and sessions in Sessions. It is an
// adapter.SharedStore, shared across nodes when Sessions is.
type RecoveryStore struct {
	// DelegatedSessions does Save, Take, Delete and SharedAcrossNodes
	// with opts.Sessions.
	adapter.DelegatedSessions

	client *kafka.Client
	tr     *kafka.Transport
	own    bool
	opts   RecoveryStoreOptions
}

var (
	_ adapter.SharedStore = (*RecoveryStore)(nil)
	_ adapter.OffsetOrder = (*RecoveryStore)(nil)
)

// NotAfter implements adapter.OffsetOrder: partition offsets compare.
func (r *RecoveryStore) NotAfter(a, b string) bool {
	x, _, ok1 := parseOffset(a)
	y, _, ok2 := parseOffset(b)
	return ok1 && ok2 && x <= y
}

// ErrNoSessionStore is returned by NewRecoveryStore without Sessions.
var ErrNoSessionStore = errors.New("kafkaadapter: the recovery store needs a session store (Sessions): Kafka cannot take a session atomically")

// NewRecoveryStore connects, creates the topic when missing, and waits
// until its partition has a leader (bounded by ctx).
func NewRecoveryStore(ctx context.Context, opts RecoveryStoreOptions) (*RecoveryStore, error) {
	if opts.Sessions == nil {
		return nil, ErrNoSessionStore
	}
	brokers, err := ParseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.Topic == "" {
		opts.Topic = "siogate.recovery"
	}
	if len(opts.Topic) > maxTopicLen {
		return nil, fmt.Errorf("kafkaadapter: topic %s is longer than Kafka's %d bytes", opts.Topic, maxTopicLen)
	}
	if opts.ReplicationFactor == 0 {
		opts.ReplicationFactor = -1
	}
	if opts.Retention <= 0 {
		opts.Retention = 2 * time.Minute
	}
	if opts.RequiredAcks == 0 {
		opts.RequiredAcks = kafka.RequireAll
	}
	r := &RecoveryStore{DelegatedSessions: adapter.DelegatedSessions{Sessions: opts.Sessions}, tr: opts.Transport, opts: opts}
	if r.tr == nil {
		r.tr, r.own = &kafka.Transport{ClientID: "siogate"}, true
	}
	r.client = &kafka.Client{Addr: kafka.TCP(brokers...), Transport: r.tr, Timeout: 10 * time.Second}
	create := opts.CreateTopic
	if create == nil {
		create = r.createTopic
	}
	if err := create(ctx, opts.Topic); err != nil {
		r.Close()
		return nil, fmt.Errorf("kafkaadapter: create topic %s: %w", opts.Topic, err)
	}
	delay := 20 * time.Millisecond
	for {
		_, _, err := r.bounds(ctx)
		if err == nil {
			return r, nil
		}
		select {
		case <-ctx.Done():
			r.Close()
			return nil, fmt.Errorf("kafkaadapter: topic %s has no leader: %w", opts.Topic, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func (r *RecoveryStore) createTopic(ctx context.Context, topic string) error {
	// A topic that exists is left alone without asking to create it (as
	// the adapter's topics): clusters whose operators provision topics,
	// and clients that may not create them, work.
	if md, err := r.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}}); err == nil {
		for _, t := range md.Topics {
			if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
				return nil
			}
		}
	}
	res, err := r.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: r.opts.ReplicationFactor,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(r.opts.Retention.Milliseconds(), 10)}},
	}}})
	if err != nil {
		return err
	}
	if err := res.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return err
	}
	return nil
}

// Close releases the idle connections of the transport this store made.
// It does not close Sessions.
func (r *RecoveryStore) Close() {
	if r.own {
		r.tr.CloseIdleConnections()
	}
}

func storeErr(op string, err error) error {
	return fmt.Errorf("kafka recovery store: %s: %w", op, err)
}

// kafkaPacket is an event as stored in the topic (MessagePack).
type kafkaPacket struct {
	Rooms       []string `msgpack:"r,omitempty"`
	Except      []string `msgpack:"e,omitempty"`
	Data        []byte   `msgpack:"d"`
	Attachments [][]byte `msgpack:"a,omitempty"`
	// Nonce tells this record apart from one of the same offset in
	// another topic, or in this one before it was created again.
	Nonce uint64 `msgpack:"n"`
}

// formatOffset returns the offset of the record off with nonce (0: not
// known, the record was dropped).
func formatOffset(off int64, nonce uint64) string {
	s := strconv.FormatInt(off, 10) + ":"
	if nonce != 0 {
		s += strconv.FormatUint(nonce, 36)
	}
	return s
}

// Append implements adapter.RecoveryStore.
func (r *RecoveryStore) Append(ctx context.Context, nsp string, p adapter.StoredPacket) (string, error) {
	nonce := rand.Uint64() | 1 // never 0
	body, err := msgpack.Marshal(kafkaPacket{Rooms: p.Rooms, Except: p.Except, Data: p.Data, Attachments: p.Attachments, Nonce: nonce})
	if err != nil {
		return "", storeErr("encoding an event", err)
	}
	res, err := r.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: r.opts.Topic, Partition: 0, RequiredAcks: r.opts.RequiredAcks,
		Records: kafka.NewRecordReader(kafka.Record{Time: time.Now(), Key: kafka.NewBytes([]byte(nsp)), Value: kafka.NewBytes(body)}),
	})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return "", storeErr("produce to "+r.opts.Topic, err)
	}
	return formatOffset(res.BaseOffset, nonce), nil
}

// bounds returns the partition's log start offset and high-water mark.
func (r *RecoveryStore) bounds(ctx context.Context) (first, next int64, err error) {
	res, err := r.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		r.opts.Topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)},
	}})
	if err != nil {
		return 0, 0, storeErr("list offsets of "+r.opts.Topic, err)
	}
	parts := res.Topics[r.opts.Topic]
	if len(parts) != 1 {
		return 0, 0, storeErr("list offsets of "+r.opts.Topic, fmt.Errorf("%d partitions in the answer", len(parts)))
	}
	if parts[0].Error != nil {
		return 0, 0, storeErr("list offsets of "+r.opts.Topic, parts[0].Error)
	}
	return parts[0].FirstOffset, parts[0].LastOffset, nil
}

// record is a fetched record, copied out of the fetch's buffers (which a
// RecordReader reuses).
type record struct {
	offset     int64
	key, value []byte
}

// fetch returns the records of one fetch from offset.
func (r *RecoveryStore) fetch(ctx context.Context, offset int64) ([]record, error) {
	res, err := r.client.Fetch(ctx, &kafka.FetchRequest{
		Topic: r.opts.Topic, Partition: 0, Offset: offset,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
	})
	if err == nil {
		err = res.Error
	}
	if errors.Is(err, kafka.OffsetOutOfRange) {
		return nil, adapter.ErrOffsetGone
	}
	if err != nil {
		return nil, storeErr("fetch from "+r.opts.Topic, err)
	}
	var out []record
	for {
		rec, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err == nil && rec.Offset >= offset {
			c := record{offset: rec.Offset}
			if c.key, err = readBytes(rec.Key); err == nil {
				c.value, err = readBytes(rec.Value)
			}
			out = append(out, c)
		}
		if err != nil {
			return nil, storeErr("fetch from "+r.opts.Topic, err)
		}
	}
}

// Head implements adapter.RecoveryStore: the offset of the topic's last
// record, with its nonce when it is still there.
func (r *RecoveryStore) Head(ctx context.Context, nsp string) (string, error) {
	first, next, err := r.bounds(ctx)
	if err != nil {
		return "", err
	}
	if next == 0 || next-1 < first {
		return formatOffset(next-1, 0), nil
	}
	recs, err := r.fetch(ctx, next-1)
	if errors.Is(err, adapter.ErrOffsetGone) {
		return formatOffset(next-1, 0), nil // just dropped
	}
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if rec.offset == next-1 {
			kp, err := decodeRecord(rec.value)
			if err != nil {
				return "", storeErr("fetch from "+r.opts.Topic, err)
			}
			return formatOffset(next-1, kp.Nonce), nil
		}
	}
	return "", storeErr("fetch from "+r.opts.Topic, fmt.Errorf("record %d not in the answer", next-1))
}

// decodeRecord reads a record's event.
func decodeRecord(value []byte) (kafkaPacket, error) {
	var kp kafkaPacket
	err := wire.Unmarshal(value, &kp)
	return kp, err
}

// parseOffset reads "<offset>:<nonce>" (nonce may be empty: 0).
func parseOffset(s string) (off int64, nonce uint64, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	off, err := strconv.ParseInt(a, 10, 64)
	if err != nil || off < -1 || strconv.FormatInt(off, 10) != a {
		return 0, 0, false
	}
	if b != "" {
		nonce, err = strconv.ParseUint(b, 36, 64)
		if err != nil || nonce == 0 || strconv.FormatUint(nonce, 36) != b {
			return 0, 0, false
		}
	}
	return off, nonce, true
}

// emptyFetches bounds the fetches that return nothing below the
// high-water mark before Since gives up.
const emptyFetches = 20

// Since implements adapter.RecoveryStore.
func (r *RecoveryStore) Since(ctx context.Context, nsp, offset string, rooms []string, limit int) ([]adapter.StoredPacket, error) {
	after, nonce := int64(-1), uint64(0)
	if offset != "" {
		var ok bool
		if after, nonce, ok = parseOffset(offset); !ok {
			return nil, adapter.ErrOffsetGone
		}
	}
	first, end, err := r.bounds(ctx)
	if err != nil {
		return nil, err
	}
	if after >= end || after+1 < first {
		return nil, adapter.ErrOffsetGone // never issued, or what followed it was dropped
	}
	next := after + 1
	verify := after >= first && offset != ""
	if verify {
		if nonce == 0 {
			return nil, adapter.ErrOffsetGone // names no record of this topic
		}
		next = after // read the offset's own record, to check it
	}
	var out []adapter.StoredPacket
	for empty := 0; next < end; {
		recs, err := r.fetch(ctx, next)
		if err != nil {
			return nil, err
		}
		progress := false
		for _, rec := range recs {
			if rec.offset < next {
				continue // earlier records of the same batch
			}
			if rec.offset != next {
				return nil, adapter.ErrOffsetGone // a gap: a record is missing
			}
			if rec.offset >= end {
				return out, nil
			}
			progress = true
			next++
			if verify {
				verify = false
				if kp, err := decodeRecord(rec.value); err != nil || kp.Nonce != nonce {
					return nil, adapter.ErrOffsetGone // another topic's, or an earlier life's
				}
				continue
			}
			if string(rec.key) != nsp {
				continue
			}
			kp, err := decodeRecord(rec.value)
			if err != nil {
				continue
			}
			p := adapter.StoredPacket{Offset: formatOffset(rec.offset, kp.Nonce), Rooms: kp.Rooms, Except: kp.Except, Data: kp.Data, Attachments: kp.Attachments}
			if !p.Reaches(rooms) {
				continue
			}
			if len(out) == limit {
				return nil, adapter.ErrTooManyMissed
			}
			out = append(out, p)
		}
		if !progress {
			if empty++; empty == emptyFetches {
				return nil, storeErr("fetch from "+r.opts.Topic, fmt.Errorf("no record at offset %d below the high-water mark %d", next, end))
			}
		}
	}
	return out, nil
}

func readBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	return io.ReadAll(b)
}
