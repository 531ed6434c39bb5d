package redisadapter

// The Redis recovery store keeps connection state recovery's events in a
// Redis stream and its sessions in Redis keys, in the layout of Node's
// @socket.io/redis-streams-adapter, so that a cluster mixing siogate and
// Node servers on one Redis can read each other's events and sessions:
//
//   - Events: one stream for every namespace (default key "socket.io",
//     XADD … MAXLEN ~ 10000), each entry a cluster BROADCAST message with
//     Node's fields: uid, nsp, type "3" and data, where data is the JSON
//     text {"packet":{"type":2,"data":[…],"nsp":…},"opts":{"rooms":[…],
//     "except":[…],"flags":{}}}, or, when the event has binary
//     attachments, the base64 of the same object in MessagePack with the
//     binaries in place of their placeholders (Node's encoding). The offset
//     of an event is its stream entry id, as in Node.
//   - Sessions: key "sio:session:<pid>", the base64 of a MessagePack map
//     with Node's fields sid, pid, rooms and data, plus siogate's own
//     owner, nsp, values and offset (Node ignores them), set with PX ttl.
//
// Where siogate departs from Node, and why:
//
//   - Take is GETDEL, one atomic command, where Node sends GET and DEL in
//     a MULTI (the same effect).
//   - Save and Delete are guarded by the session's owner in a Lua script
//     (Node has no owner). The script reads the owner from the stored
//     value: siogate writes it as the map's first key, so the script only
//     decodes a short base64 prefix. A session Node wrote has no owner
//     and counts as owned by "": siogate does not overwrite it while it
//     lives.
//   - A session's data is stored as MessagePack (Node's socket.data is
//     any value): siogate's JSON is converted, and back, so it comes back
//     as the same JSON value but not byte for byte (object keys sorted).
//     An event's data with binary attachments takes the same road; an
//     event without attachments is kept byte for byte.
//   - Since refuses offsets whose events may have been trimmed (Node
//     replays what is left): once the stream dropped entries (XINFO
//     STREAM's entries-added above its length), an offset older than its
//     first entry is ErrOffsetGone, as is one older than its
//     max-deleted-entry-id. It also refuses an id that is not an entry of
//     the stream (nor its last id), as Node does. Redis 7.0 or later is
//     needed (XINFO STREAM's fields, exclusive XRANGE).
//   - Since skips entries of broadcasts with an ack or flagged volatile
//     (Node's adapter writes those to the stream too; they are not meant
//     to be replayed).
//   - Node's sessions have no namespace (nsp); siogate's gateway refuses
//     a session of another namespace, so a Node session is not recovered
//     by a siogate server unless the gateway accepts an empty one.
//
// Writing type "3" entries means that Node servers running the streams
// adapter on the same stream also deliver siogate's stored events to
// their own sockets, with the entry id as offset: that is the mixed
// cluster's point. A stream used only by siogate is plain storage.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// RecoveryStoreOptions configure a Redis recovery store. Zero fields take
// Node's defaults.
type RecoveryStoreOptions struct {
	// StreamName is the stream's key (default "socket.io", Node's).
	StreamName string
	// MaxLen bounds the stream, trimmed almost exactly (MAXLEN ~; default
	// 10,000, Node's). A client that missed more events than the stream
	// keeps gets a fresh session.
	MaxLen int64
	// SessionKeyPrefix prefixes the session keys (default "sio:session:").
	SessionKeyPrefix string
	// ReadCount is how many entries one XRANGE call reads (default 100,
	// Node's readCount).
	ReadCount int64
	// UID is the uid field of the entries (default a random id): Node
	// servers ignore entries of their own uid.
	UID string
}

// RecoveryStore is an adapter.SharedStore on Redis (7.0 or later), in the
// layout of Node's @socket.io/redis-streams-adapter: events are entries of
// one stream, offsets their ids; sessions are base64 MessagePack values
// of "sio:session:<pid>" keys with a PX ttl. Take is GETDEL; Save and
// Delete are owner-guarded Lua scripts. Every method is one round trip to
// Redis, except Since over more than ReadCount entries, which reads in
// pages.
type RecoveryStore struct {
	client redis.UniversalClient
	opts   RecoveryStoreOptions
}

var (
	_ adapter.SharedStore = (*RecoveryStore)(nil)
	_ adapter.OffsetOrder = (*RecoveryStore)(nil)
)

// NotAfter implements adapter.OffsetOrder: stream ids compare by time
// then sequence.
func (r *RecoveryStore) NotAfter(a, b string) bool {
	x, ok1 := parseStreamID(a)
	y, ok2 := parseStreamID(b)
	return ok1 && ok2 && x.cmp(y) <= 0
}

// NewRecoveryStore returns a store on client, which it does not close.
func NewRecoveryStore(client redis.UniversalClient, opts RecoveryStoreOptions) *RecoveryStore {
	if opts.StreamName == "" {
		opts.StreamName = "socket.io"
	}
	if opts.MaxLen <= 0 {
		opts.MaxLen = 10_000
	}
	if opts.SessionKeyPrefix == "" {
		opts.SessionKeyPrefix = "sio:session:"
	}
	if opts.ReadCount <= 0 {
		opts.ReadCount = 100
	}
	if opts.UID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.UID = "siogate-" + base64.RawURLEncoding.EncodeToString(b[:])
	}
	return &RecoveryStore{client: client, opts: opts}
}

// SharedAcrossNodes implements adapter.SharedStore.
func (r *RecoveryStore) SharedAcrossNodes() bool { return true }

func storeErr(op string, err error) error {
	return fmt.Errorf("redis recovery store: %s: %w", op, err)
}

// The broadcast message of Node's cluster adapter, as kept in the stream.
type nodeBroadcast struct {
	Packet nodePacket  `json:"packet" msgpack:"packet"`
	Opts   nodeOptions `json:"opts" msgpack:"opts"`
	// RequestID is set on broadcasts with an ack (never replayed).
	RequestID any `json:"requestId,omitempty" msgpack:"requestId,omitempty"`
}

type nodePacket struct {
	Type int             `json:"type" msgpack:"type"`
	Data json.RawMessage `json:"data" msgpack:"-"`
	Nsp  string          `json:"nsp" msgpack:"nsp"`
}

type nodeOptions struct {
	Rooms  []string       `json:"rooms" msgpack:"rooms"`
	Except []string       `json:"except" msgpack:"except"`
	Flags  map[string]any `json:"flags" msgpack:"flags"`
}

// encodeEntry returns the data field of p's stream entry.
func encodeEntry(nsp string, p *adapter.StoredPacket) (string, error) {
	rooms, except := p.Rooms, p.Except
	if rooms == nil {
		rooms = []string{}
	}
	if except == nil {
		except = []string{}
	}
	if len(p.Attachments) == 0 {
		// Built by hand so that the event's data is kept byte for byte.
		n, err := json.Marshal(nsp)
		if err != nil {
			return "", err
		}
		opts, err := json.Marshal(nodeOptions{Rooms: rooms, Except: except, Flags: map[string]any{}})
		if err != nil {
			return "", err
		}
		var b strings.Builder
		b.Grow(len(p.Data) + len(n) + len(opts) + 48)
		b.WriteString(`{"packet":{"type":2,"data":`)
		b.Write(p.Data)
		b.WriteString(`,"nsp":`)
		b.Write(n)
		b.WriteString(`},"opts":`)
		b.Write(opts)
		b.WriteString(`}`)
		return b.String(), nil
	}
	data, err := jsonToValue(p.Data, p.Attachments)
	if err != nil {
		return "", err
	}
	b, err := msgpack.Marshal(map[string]any{
		"packet": map[string]any{"type": 2, "data": data, "nsp": nsp},
		"opts":   map[string]any{"rooms": rooms, "except": except, "flags": map[string]any{}},
	})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// decodeEntry reads an entry's data field. It reports false for entries
// that are not replayed: malformed ones, broadcasts with an ack, volatile
// ones.
func decodeEntry(data string) (adapter.StoredPacket, bool) {
	var p adapter.StoredPacket
	if strings.HasPrefix(data, "{") {
		var m nodeBroadcast
		if json.Unmarshal([]byte(data), &m) != nil || m.RequestID != nil || len(m.Packet.Data) == 0 {
			return p, false
		}
		if v, _ := m.Opts.Flags["volatile"].(bool); v {
			return p, false
		}
		p.Data, p.Rooms, p.Except = m.Packet.Data, m.Opts.Rooms, m.Opts.Except
		return p, true
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return p, false
	}
	var m struct {
		Packet struct {
			Data any `msgpack:"data"`
		} `msgpack:"packet"`
		Opts      nodeOptions `msgpack:"opts"`
		RequestID any         `msgpack:"requestId"`
	}
	if wire.Unmarshal(raw, &m) != nil || m.RequestID != nil || m.Packet.Data == nil {
		return p, false
	}
	if v, _ := m.Opts.Flags["volatile"].(bool); v {
		return p, false
	}
	p.Data, p.Attachments, err = valueToJSON(m.Packet.Data)
	if err != nil {
		return p, false
	}
	p.Rooms, p.Except = m.Opts.Rooms, m.Opts.Except
	return p, true
}

// jsonToValue decodes JSON text into plain values for MessagePack,
// replacing Socket.IO's binary placeholders by their attachments.
func jsonToValue(text []byte, attachments [][]byte) (any, error) {
	if len(text) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(string(text)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return inlineBinaries(v, attachments), nil
}

func inlineBinaries(v any, attachments [][]byte) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = inlineBinaries(x[i], attachments)
		}
		return x
	case map[string]any:
		if ph, _ := x["_placeholder"].(bool); ph && len(x) == 2 {
			if n, ok := x["num"].(json.Number); ok {
				if i, err := n.Int64(); err == nil && i >= 0 && i < int64(len(attachments)) {
					return attachments[i]
				}
			}
		}
		for k, e := range x {
			x[k] = inlineBinaries(e, attachments)
		}
		return x
	}
	return v
}

// valueToJSON is jsonToValue's inverse: binaries become placeholders and
// attachments, in the order met.
func valueToJSON(v any) ([]byte, [][]byte, error) {
	var att [][]byte
	b, err := json.Marshal(extractBinaries(v, &att))
	return b, att, err
}

func extractBinaries(v any, att *[][]byte) any {
	switch x := v.(type) {
	case []byte:
		*att = append(*att, x)
		return map[string]any{"_placeholder": true, "num": len(*att) - 1}
	case []any:
		for i := range x {
			x[i] = extractBinaries(x[i], att)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = extractBinaries(e, att)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = extractBinaries(e, att)
		}
		return m
	}
	return v
}

// Append implements adapter.RecoveryStore.
func (r *RecoveryStore) Append(ctx context.Context, nsp string, p adapter.StoredPacket) (string, error) {
	data, err := encodeEntry(nsp, &p)
	if err != nil {
		return "", storeErr("encoding an event", err)
	}
	id, err := r.client.XAdd(ctx, &redis.XAddArgs{
		Stream: r.opts.StreamName,
		MaxLen: r.opts.MaxLen,
		Approx: true,
		Values: []any{"uid", r.opts.UID, "nsp", nsp, "type", "3", "data", data},
	}).Result()
	if err != nil {
		return "", storeErr("XADD "+r.opts.StreamName, err)
	}
	return id, nil
}

// streamPage returns, atomically, the stream's bounds and a page of its
// entries: {last-generated-id, max-deleted-entry-id,
// recorded-first-entry-id, entries removed (added but no longer there),
// XRANGE KEYS[1] ARGV[1] + COUNT ARGV[2] (none when ARGV[2] is 0)}. A
// stream that does not exist has bounds "0-0" and no entry removed.
var streamPage = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'0-0', '0-0', '0-0', 0, {}} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local f = {}
for i = 1, #info, 2 do f[info[i]] = info[i + 1] end
if f['entries-added'] == nil then
  return redis.error_reply('the siogate recovery store needs Redis 7.0 or later (XINFO STREAM entries-added)')
end
local page = {}
if ARGV[2] ~= '0' then page = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2]) end
return {f['last-generated-id'], f['max-deleted-entry-id'], f['recorded-first-entry-id'],
  f['entries-added'] - f['length'], page}
`)

// streamID is a parsed stream entry id.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || strconv.FormatUint(ms, 10) != a || strconv.FormatUint(seq, 10) != b {
		return streamID{}, false
	}
	return streamID{ms, seq}, true
}

func (a streamID) cmp(b streamID) int {
	switch {
	case a.ms != b.ms:
		return cmpUint(a.ms, b.ms)
	default:
		return cmpUint(a.seq, b.seq)
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// String formats the id as Redis does.
func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// Head implements adapter.RecoveryStore: the stream's last generated id,
// "0-0" while the stream does not exist.
func (r *RecoveryStore) Head(ctx context.Context, nsp string) (string, error) {
	b, _, err := r.page(ctx, "-", 0)
	if err != nil {
		return "", err
	}
	return b.last.String(), nil
}

// Since implements adapter.RecoveryStore. It reads the stream from offset
// up to its last entry at the first read, in pages of ReadCount entries,
// each read with the stream's bounds atomically. An offset is accepted
// when it is an entry of the stream, its last generated id or "0-0",
// and no entry after it was trimmed or deleted (an offset older
// than the first entry left, once the stream was trimmed, is refused).
func (r *RecoveryStore) Since(ctx context.Context, nsp, offset string, rooms []string, limit int) ([]adapter.StoredPacket, error) {
	from := streamID{}
	if offset != "" {
		var ok bool
		if from, ok = parseStreamID(offset); !ok {
			return nil, adapter.ErrOffsetGone
		}
	}
	var (
		out   []adapter.StoredPacket
		end   streamID
		start = from.String() // inclusive on the first page, to see the offset's own entry
		first = true
	)
	for {
		b, entries, err := r.page(ctx, start, r.opts.ReadCount)
		if err != nil {
			return nil, err
		}
		full := int64(len(entries)) == r.opts.ReadCount
		if b.deleted.cmp(from) > 0 {
			return nil, adapter.ErrOffsetGone // an entry after the offset was deleted
		}
		// Trimming drops the oldest entries: an offset before the first
		// entry left, once some were dropped, may have lost what follows
		// it (unless nothing follows it).
		if b.removed > 0 && from.cmp(b.first) < 0 && from != b.last {
			return nil, adapter.ErrOffsetGone
		}
		if first {
			end = b.last
			if from.cmp(b.last) > 0 {
				return nil, adapter.ErrOffsetGone // never issued here
			}
			known := from == (streamID{}) || from == b.last
			if len(entries) > 0 && entries[0].ID == start {
				known = true
				entries = entries[1:]
			}
			if !known {
				return nil, adapter.ErrOffsetGone
			}
			first = false
		}
		for _, e := range entries {
			id, ok := parseStreamID(e.ID)
			if !ok || id.cmp(end) > 0 {
				return out, nil
			}
			start = "(" + e.ID
			if e.Values["type"] != "3" || e.Values["nsp"] != nsp {
				continue
			}
			data, _ := e.Values["data"].(string)
			p, ok := decodeEntry(data)
			if !ok || !p.Reaches(rooms) {
				continue
			}
			if len(out) == limit {
				return nil, adapter.ErrTooManyMissed
			}
			p.Offset = e.ID
			out = append(out, p)
		}
		if !full {
			return out, nil
		}
	}
}

// streamBounds is what streamPage tells of the stream.
type streamBounds struct {
	last, deleted, first streamID
	removed              int64
}

// page runs streamPage from start.
func (r *RecoveryStore) page(ctx context.Context, start string, count int64) (b streamBounds, entries []redis.XMessage, err error) {
	op := "XRANGE " + r.opts.StreamName
	if count == 0 {
		op = "XINFO STREAM " + r.opts.StreamName
	}
	res, err := streamPage.Run(ctx, r.client, []string{r.opts.StreamName}, start, count).Slice()
	if err != nil {
		return b, nil, storeErr(op, err)
	}
	bad := func() error { return storeErr(op, fmt.Errorf("unexpected reply %v", res)) }
	if len(res) != 5 {
		return b, nil, bad()
	}
	ids := make([]streamID, 3)
	for i := range ids {
		s, _ := res[i].(string)
		var ok bool
		if ids[i], ok = parseStreamID(s); !ok {
			return b, nil, bad()
		}
	}
	b.last, b.deleted, b.first = ids[0], ids[1], ids[2]
	removed, ok1 := res[3].(int64)
	list, ok2 := res[4].([]any)
	if !ok1 || !ok2 {
		return b, nil, bad()
	}
	b.removed = removed
	for _, item := range list {
		pair, ok := item.([]any)
		if !ok || len(pair) != 2 {
			return b, nil, bad()
		}
		id, _ := pair[0].(string)
		fields, _ := pair[1].([]any)
		m := make(map[string]any, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			k, _ := fields[i].(string)
			m[k] = fields[i+1]
		}
		entries = append(entries, redis.XMessage{ID: id, Values: m})
	}
	return b, entries, nil
}

// ownerOf is the Lua function that reads a stored session's owner: the
// value is base64 of a MessagePack map whose first key, in siogate's
// sessions, is "owner"; only the prefix that holds it is decoded. A
// session without it (Node's) is owned by "".
const ownerOf = `
local alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local sextet = {}
for i = 1, 64 do sextet[string.byte(alphabet, i)] = i - 1 end
local function unbase64(s)
  local out = {}
  for i = 1, #s - 3, 4 do
    local a, b = sextet[string.byte(s, i)], sextet[string.byte(s, i + 1)]
    local c, d = sextet[string.byte(s, i + 2)], sextet[string.byte(s, i + 3)]
    if not a or not b then break end
    local v = a * 262144 + b * 4096 + (c or 0) * 64 + (d or 0)
    out[#out + 1] = string.char(math.floor(v / 65536) % 256)
    if c then out[#out + 1] = string.char(math.floor(v / 256) % 256) end
    if d then out[#out + 1] = string.char(v % 256) end
  end
  return table.concat(out)
end
local function owner_of(value, want)
  -- map header (fixmap, map16, map32), "owner" as fixstr, then a str
  local need = 5 + 6 + 2 + #want + 1
  local head = unbase64(string.sub(value, 1, math.ceil(need / 3) * 4))
  local h, p = string.byte(head, 1), 2
  if not h then return '' end
  if h == 0xde then p = 4 elseif h == 0xdf then p = 6 elseif h < 0x80 or h > 0x8f then return '' end
  if string.sub(head, p, p + 5) ~= '\165owner' then return '' end
  p = p + 6
  local t, n = string.byte(head, p), nil
  if not t then return false end
  if t >= 0xa0 and t <= 0xbf then n, p = t - 0xa0, p + 1
  elseif t == 0xd9 then n, p = string.byte(head, p + 1), p + 2
  else return false end
  if not n or n ~= #want then return false end
  return string.sub(head, p, p + n - 1)
end
`

// saveSession sets KEYS[1] to ARGV[1] for ARGV[2] ms unless it holds a
// session of another owner than ARGV[3].
var saveSession = redis.NewScript(ownerOf + `
local old = redis.call('GET', KEYS[1])
if old and owner_of(old, ARGV[3]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// deleteSession deletes KEYS[1] if it holds a session of owner ARGV[1].
var deleteSession = redis.NewScript(ownerOf + `
local old = redis.call('GET', KEYS[1])
if old and owner_of(old, ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// maxOwner bounds an owner's length: the save script reads it as a
// MessagePack str8.
const maxOwner = 255

// encodeSession returns the stored form of s: base64 of a MessagePack
// map, owner first.
func encodeSession(s *adapter.Session) (string, error) {
	var b strings.Builder
	w := base64.NewEncoder(base64.StdEncoding, &b)
	enc := msgpack.NewEncoder(w)
	n := 5
	var data any
	if len(s.Data) > 0 {
		var err error
		if data, err = jsonToValue(s.Data, nil); err != nil {
			return "", fmt.Errorf("session data: %w", err)
		}
		n++
	}
	if len(s.Values) > 0 {
		n++
	}
	if s.Offset != "" {
		n++
	}
	rooms := s.Rooms
	if rooms == nil {
		rooms = []string{}
	}
	err := errors.Join(
		enc.EncodeMapLen(n),
		enc.EncodeString("owner"), enc.EncodeString(s.Owner),
		enc.EncodeString("sid"), enc.EncodeString(s.SID),
		enc.EncodeString("pid"), enc.EncodeString(s.PID),
		enc.EncodeString("rooms"), enc.Encode(rooms),
		enc.EncodeString("nsp"), enc.EncodeString(s.Namespace),
	)
	if err == nil && len(s.Data) > 0 {
		err = errors.Join(enc.EncodeString("data"), enc.Encode(data))
	}
	if err == nil && len(s.Values) > 0 {
		err = errors.Join(enc.EncodeString("values"), enc.EncodeString(string(s.Values)))
	}
	if err == nil && s.Offset != "" {
		err = errors.Join(enc.EncodeString("offset"), enc.EncodeString(s.Offset))
	}
	if err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// decodeSession reads a stored session, siogate's or Node's.
func decodeSession(value string) (adapter.Session, error) {
	var s adapter.Session
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return s, err
	}
	var m map[string]any
	if err := wire.Unmarshal(raw, &m); err != nil {
		return s, err
	}
	str := func(k string) string { v, _ := m[k].(string); return v }
	s.PID, s.SID, s.Namespace, s.Offset, s.Owner = str("pid"), str("sid"), str("nsp"), str("offset"), str("owner")
	if rooms, ok := m["rooms"].([]any); ok {
		for _, room := range rooms {
			if r, ok := room.(string); ok {
				s.Rooms = append(s.Rooms, r)
			}
		}
	}
	if d, ok := m["data"]; ok {
		if s.Data, err = json.Marshal(extractBinaries(d, new([][]byte))); err != nil {
			return s, err
		}
	}
	if v := str("values"); v != "" {
		s.Values = json.RawMessage(v)
	}
	return s, nil
}

func (r *RecoveryStore) sessionKey(pid string) string { return r.opts.SessionKeyPrefix + pid }

// Save implements adapter.RecoveryStore.
func (r *RecoveryStore) Save(ctx context.Context, s adapter.Session, ttl time.Duration) error {
	if len(s.Owner) > maxOwner {
		return storeErr("save", fmt.Errorf("owner longer than %d bytes", maxOwner))
	}
	value, err := encodeSession(&s)
	if err != nil {
		return storeErr("encoding a session", err)
	}
	ms := max(ttl.Milliseconds(), 1)
	if err := saveSession.Run(ctx, r.client, []string{r.sessionKey(s.PID)}, value, ms, s.Owner).Err(); err != nil {
		return storeErr("SET "+r.sessionKey(s.PID), err)
	}
	return nil
}

// Take implements adapter.RecoveryStore with GETDEL.
func (r *RecoveryStore) Take(ctx context.Context, pid string) (adapter.Session, error) {
	value, err := r.client.GetDel(ctx, r.sessionKey(pid)).Result()
	if errors.Is(err, redis.Nil) {
		return adapter.Session{}, adapter.ErrNoSession
	}
	if err != nil {
		return adapter.Session{}, storeErr("GETDEL "+r.sessionKey(pid), err)
	}
	s, err := decodeSession(value)
	if err != nil {
		return adapter.Session{}, storeErr("decoding session "+pid, err)
	}
	if s.PID == "" {
		s.PID = pid
	}
	return s, nil
}

// Delete implements adapter.RecoveryStore.
func (r *RecoveryStore) Delete(ctx context.Context, pid, owner string) error {
	if len(owner) > maxOwner {
		return nil // no session is saved with such an owner
	}
	if err := deleteSession.Run(ctx, r.client, []string{r.sessionKey(pid)}, owner).Err(); err != nil {
		return storeErr("DEL "+r.sessionKey(pid), err)
	}
	return nil
}
