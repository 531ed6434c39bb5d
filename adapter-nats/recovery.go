package natsadapter

// The NATS recovery store keeps connection state recovery's events in a
// JetStream stream and its sessions in a JetStream key-value bucket.
//
// Events: one stream (default "SIOGATE_RECOVERY") bounded by count, bytes
// and age, one subject per namespace (<Subject>.<base64url of the
// namespace>). An offset is "<epoch>:<sequence>": the stream sequence,
// and the stream's creation time, so that an offset of another stream, or
// of this one before it was deleted and created again (sequences start
// over), is refused rather than misread. Since reads with direct message
// gets, next by subject from the offset's sequence, up to the stream's
// last sequence when it began: one request per missed event of the
// namespace. An offset is refused once the stream's first sequence is
// past it plus one (an event after it was dropped).
//
// Sessions: a key-value bucket (default "siogate_sessions") whose TTL
// bounds every session's life. JetStream of this generation (2.9) has no
// TTL per key, so a session's own ttl is kept in its value and counted
// from the server's timestamp of the revision: a session read past it is
// treated as gone (and removed). The bucket's TTL must cover the longest
// ttl the gateway asks for (1.5 × MaxDisconnectionDuration for the
// sessions of connected sockets): Save refuses a longer one with an error.
// Expiry is thus checked against this process's clock (skew with the
// server shortens or lengthens a session by as much).
//
// Writes are refused while the connection is down (nats.go would buffer
// them and send them on reconnecting, after the caller was told they
// failed); a write that times out once sent may still be applied.
//
// Save, Take and Delete are compare-and-set on the key's revision
// (expected last sequence per subject): two concurrent Takes of one
// session both read revision n, one deletes it with "last revision n",
// the other's delete is refused and it finds the session gone. A
// conflicting write is retried from a fresh read, a bounded number of
// times.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// RecoveryStoreOptions configure a NATS recovery store. Zero fields take
// the defaults.
type RecoveryStoreOptions struct {
	// Stream is the events' stream (default "SIOGATE_RECOVERY").
	Stream string
	// Subject prefixes the namespaces' subjects (default
	// "siogate.recovery"); the stream takes <Subject>.>.
	Subject string
	// MaxMsgs bounds the stream's events (default 100,000); the oldest
	// go first.
	MaxMsgs int64
	// MaxBytes bounds the stream's size (default 64 MiB).
	MaxBytes int64
	// MaxAge drops events older than this (default 2 minutes, the
	// gateway's default MaxDisconnectionDuration).
	MaxAge time.Duration
	// Bucket is the sessions' key-value bucket (default
	// "siogate_sessions").
	Bucket string
	// SessionTTL is the bucket's TTL: no session outlives it. It must be
	// at least 1.5 × the gateway's MaxDisconnectionDuration (default 3
	// minutes, for the default 2).
	SessionTTL time.Duration
	// Replicas of the stream and the bucket (default 1).
	Replicas int
	// Storage of the stream and the bucket (default file).
	Storage jetstream.StorageType
}

// RecoveryStore is an adapter.SharedStore on NATS JetStream.
type RecoveryStore struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	opts   RecoveryStoreOptions
}

var (
	_ adapter.SharedStore = (*RecoveryStore)(nil)
	_ adapter.OffsetOrder = (*RecoveryStore)(nil)
)

// NotAfter implements adapter.OffsetOrder: offsets of one stream epoch
// compare by sequence.
func (r *RecoveryStore) NotAfter(a, b string) bool {
	ea, sa, ok1 := strings.Cut(a, ":")
	eb, sb, ok2 := strings.Cut(b, ":")
	if !ok1 || !ok2 || ea != eb {
		return false
	}
	x, err1 := strconv.ParseUint(sa, 10, 64)
	y, err2 := strconv.ParseUint(sb, 10, 64)
	return err1 == nil && err2 == nil && x <= y
}

// casRetries bounds the retries of a compare-and-set that lost a race.
const casRetries = 16

// NewRecoveryStore creates (or updates to opts) the stream and the bucket
// on nc, which it does not close.
func NewRecoveryStore(ctx context.Context, nc *nats.Conn, opts RecoveryStoreOptions) (*RecoveryStore, error) {
	if opts.Stream == "" {
		opts.Stream = "SIOGATE_RECOVERY"
	}
	if opts.Subject == "" {
		opts.Subject = "siogate.recovery"
	}
	if opts.MaxMsgs <= 0 {
		opts.MaxMsgs = 100_000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 2 * time.Minute
	}
	if opts.Bucket == "" {
		opts.Bucket = "siogate_sessions"
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 3 * time.Minute
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("nats recovery store: %w", err)
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      opts.Stream,
		Subjects:  []string{opts.Subject + ".>"},
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxMsgs:   opts.MaxMsgs,
		MaxBytes:  opts.MaxBytes,
		MaxAge:    opts.MaxAge,
		Replicas:  opts.Replicas,
		Storage:   opts.Storage,
	})
	if err != nil {
		return nil, fmt.Errorf("nats recovery store: creating stream %s: %w", opts.Stream, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   opts.Bucket,
		History:  1,
		TTL:      opts.SessionTTL,
		Replicas: opts.Replicas,
		Storage:  opts.Storage,
	})
	if err != nil {
		return nil, fmt.Errorf("nats recovery store: creating bucket %s: %w", opts.Bucket, err)
	}
	return &RecoveryStore{nc: nc, js: js, stream: stream, kv: kv, opts: opts}, nil
}

// SharedAcrossNodes implements adapter.SharedStore.
func (r *RecoveryStore) SharedAcrossNodes() bool { return true }

func storeErr(op string, err error) error {
	return fmt.Errorf("nats recovery store: %s: %w", op, err)
}

// errDisconnected refuses a write while the connection is down: nats.go
// would buffer it and send it on reconnecting, long after the caller was
// told it failed (an event stored without its offset ever being sent, a
// session taken by nobody).
var errDisconnected = errors.New("not connected to NATS")

// connected fails op while the connection is down.
func (r *RecoveryStore) connected(op string) error {
	if r.nc.IsConnected() {
		return nil
	}
	return storeErr(op, errDisconnected)
}

func (r *RecoveryStore) subject(nsp string) string {
	if nsp == "" {
		return r.opts.Subject + "._"
	}
	return r.opts.Subject + "." + base64.RawURLEncoding.EncodeToString([]byte(nsp))
}

// natsPacket is an event as stored in the stream (MessagePack).
type natsPacket struct {
	Rooms       []string `msgpack:"r,omitempty"`
	Except      []string `msgpack:"e,omitempty"`
	Data        []byte   `msgpack:"d"`
	Attachments [][]byte `msgpack:"a,omitempty"`
}

func epochOf(info *jetstream.StreamInfo) string {
	return strconv.FormatInt(info.Created.UnixNano(), 36)
}

func (r *RecoveryStore) info(ctx context.Context) (*jetstream.StreamInfo, error) {
	info, err := r.stream.Info(ctx)
	if err != nil {
		return nil, storeErr("stream info "+r.opts.Stream, err)
	}
	return info, nil
}

// Append implements adapter.RecoveryStore.
func (r *RecoveryStore) Append(ctx context.Context, nsp string, p adapter.StoredPacket) (string, error) {
	body, err := msgpack.Marshal(natsPacket{Rooms: p.Rooms, Except: p.Except, Data: p.Data, Attachments: p.Attachments})
	if err != nil {
		return "", storeErr("encoding an event", err)
	}
	if err := r.connected("publish to " + r.subject(nsp)); err != nil {
		return "", err
	}
	ack, err := r.js.Publish(ctx, r.subject(nsp), body, jetstream.WithExpectStream(r.opts.Stream))
	if err != nil {
		return "", storeErr("publish to "+r.subject(nsp), err)
	}
	// The epoch as last read (every Head and Since reads it again, so a
	// stream created anew is noticed; until then the offsets are refused,
	// which is safe).
	info := r.stream.CachedInfo()
	return epochOf(info) + ":" + strconv.FormatUint(ack.Sequence, 10), nil
}

// Head implements adapter.RecoveryStore: the stream's last sequence.
func (r *RecoveryStore) Head(ctx context.Context, nsp string) (string, error) {
	info, err := r.info(ctx)
	if err != nil {
		return "", err
	}
	return epochOf(info) + ":" + strconv.FormatUint(info.State.LastSeq, 10), nil
}

// Since implements adapter.RecoveryStore.
func (r *RecoveryStore) Since(ctx context.Context, nsp, offset string, rooms []string, limit int) ([]adapter.StoredPacket, error) {
	info, err := r.info(ctx)
	if err != nil {
		return nil, err
	}
	epoch := epochOf(info)
	var after uint64
	if offset != "" {
		e, s, ok := strings.Cut(offset, ":")
		if !ok || e != epoch {
			return nil, adapter.ErrOffsetGone
		}
		if after, err = strconv.ParseUint(s, 10, 64); err != nil || strconv.FormatUint(after, 10) != s {
			return nil, adapter.ErrOffsetGone
		}
	}
	if after > info.State.LastSeq || info.State.FirstSeq > after+1 {
		return nil, adapter.ErrOffsetGone
	}
	var out []adapter.StoredPacket
	subject := r.subject(nsp)
	for next := after + 1; next <= info.State.LastSeq; {
		m, err := r.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, storeErr("get from "+r.opts.Stream, err)
		}
		if m.Sequence > info.State.LastSeq {
			break
		}
		next = m.Sequence + 1
		var np natsPacket
		if wire.Unmarshal(m.Data, &np) != nil {
			continue
		}
		p := adapter.StoredPacket{Offset: epoch + ":" + strconv.FormatUint(m.Sequence, 10), Rooms: np.Rooms, Except: np.Except, Data: np.Data, Attachments: np.Attachments}
		if !p.Reaches(rooms) {
			continue
		}
		if len(out) == limit {
			return nil, adapter.ErrTooManyMissed
		}
		out = append(out, p)
	}
	// A get skips an event dropped before it was read: check that none
	// after the offset was dropped meanwhile.
	if after < info.State.LastSeq {
		now, err := r.info(ctx)
		if err != nil {
			return nil, err
		}
		if epochOf(now) != epoch || now.State.FirstSeq > after+1 {
			return nil, adapter.ErrOffsetGone
		}
	}
	return out, nil
}

// natsSession is a session as stored in the bucket (MessagePack).
type natsSession struct {
	PID       string   `msgpack:"pid"`
	SID       string   `msgpack:"sid"`
	Namespace string   `msgpack:"nsp"`
	Rooms     []string `msgpack:"rooms"`
	Data      []byte   `msgpack:"data,omitempty"`
	Values    []byte   `msgpack:"values,omitempty"`
	Offset    string   `msgpack:"offset,omitempty"`
	Owner     string   `msgpack:"owner,omitempty"`
	// TTL in milliseconds, from the revision's timestamp.
	TTL int64 `msgpack:"ttl"`
}

// sessionKey is the bucket key of pid (base64url: any pid makes a valid
// key).
func sessionKey(pid string) string {
	if pid == "" {
		return "_"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(pid))
}

// stored is a live session read from the bucket.
type stored struct {
	s   natsSession
	rev uint64
}

// get reads pid's session: nil when there is none or it expired (an
// expired one is removed, if it did not change meanwhile).
func (r *RecoveryStore) get(ctx context.Context, key string) (*stored, error) {
	e, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr("get "+key+" from "+r.opts.Bucket, err)
	}
	var s natsSession
	if wire.Unmarshal(e.Value(), &s) != nil || time.Now().After(e.Created().Add(time.Duration(s.TTL)*time.Millisecond)) {
		_ = r.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		return nil, nil
	}
	return &stored{s: s, rev: e.Revision()}, nil
}

// conflict reports a compare-and-set that lost a race.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// Save implements adapter.RecoveryStore.
func (r *RecoveryStore) Save(ctx context.Context, s adapter.Session, ttl time.Duration) error {
	if ttl > r.opts.SessionTTL {
		return storeErr("save", fmt.Errorf("ttl %v is longer than the bucket's SessionTTL %v", ttl, r.opts.SessionTTL))
	}
	body, err := msgpack.Marshal(natsSession{
		PID: s.PID, SID: s.SID, Namespace: s.Namespace, Rooms: s.Rooms, Data: s.Data, Values: s.Values,
		Offset: s.Offset, Owner: s.Owner, TTL: max(ttl.Milliseconds(), 1),
	})
	if err != nil {
		return storeErr("encoding a session", err)
	}
	key := sessionKey(s.PID)
	for range casRetries {
		old, err := r.get(ctx, key)
		if err != nil {
			return err
		}
		if err := r.connected("put " + key + " in " + r.opts.Bucket); err != nil {
			return err
		}
		if old == nil {
			_, err = r.kv.Create(ctx, key, body)
		} else if old.s.Owner != s.Owner {
			return nil // moved to a newer connection
		} else {
			_, err = r.kv.Update(ctx, key, body, old.rev)
		}
		if err == nil {
			return nil
		}
		if !conflict(err) {
			return storeErr("put "+key+" in "+r.opts.Bucket, err)
		}
	}
	return storeErr("put "+key+" in "+r.opts.Bucket, fmt.Errorf("still conflicting after %d tries", casRetries))
}

// Take implements adapter.RecoveryStore.
func (r *RecoveryStore) Take(ctx context.Context, pid string) (adapter.Session, error) {
	key := sessionKey(pid)
	for range casRetries {
		old, err := r.get(ctx, key)
		if err != nil {
			return adapter.Session{}, err
		}
		if old == nil {
			return adapter.Session{}, adapter.ErrNoSession
		}
		if err := r.connected("delete " + key + " from " + r.opts.Bucket); err != nil {
			return adapter.Session{}, err
		}
		err = r.kv.Delete(ctx, key, jetstream.LastRevision(old.rev))
		if err == nil {
			s := old.s
			return adapter.Session{
				PID: s.PID, SID: s.SID, Namespace: s.Namespace, Rooms: s.Rooms, Data: s.Data, Values: s.Values,
				Offset: s.Offset, Owner: s.Owner,
			}, nil
		}
		if !conflict(err) {
			return adapter.Session{}, storeErr("delete "+key+" from "+r.opts.Bucket, err)
		}
	}
	return adapter.Session{}, storeErr("delete "+key+" from "+r.opts.Bucket, fmt.Errorf("still conflicting after %d tries", casRetries))
}

// Delete implements adapter.RecoveryStore.
func (r *RecoveryStore) Delete(ctx context.Context, pid, owner string) error {
	key := sessionKey(pid)
	for range casRetries {
		old, err := r.get(ctx, key)
		if err != nil {
			return err
		}
		if old == nil || old.s.Owner != owner {
			return nil
		}
		if err := r.connected("delete " + key + " from " + r.opts.Bucket); err != nil {
			return err
		}
		err = r.kv.Delete(ctx, key, jetstream.LastRevision(old.rev))
		if err == nil {
			return nil
		}
		if !conflict(err) {
			return storeErr("delete "+key+" from "+r.opts.Bucket, err)
		}
	}
	return storeErr("delete "+key+" from "+r.opts.Bucket, fmt.Errorf("still conflicting after %d tries", casRetries))
}
