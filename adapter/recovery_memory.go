package adapter

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemoryStoreOptions bound a MemoryStore. Zero fields take the defaults.
type MemoryStoreOptions struct {
	// MaxPackets is the most packets kept over all namespaces (default
	// 100,000); the oldest go first.
	MaxPackets int
	// MaxBytes bounds the packets' data and attachments, in bytes (default
	// 64 MiB).
	MaxBytes int
	// MaxAge drops packets older than this (default 2 minutes, Node's
	// maxDisconnectionDuration): no session outlives it.
	MaxAge time.Duration
	// MaxSessions is the most sessions kept (default 100,000); past it the
	// oldest is dropped, and its client gets a fresh session.
	MaxSessions int
}

// MemoryStore is a RecoveryStore in this process, for a single node. It
// holds one log of packets over all namespaces, trimmed by count, bytes
// and age. Offsets carry a random prefix of the store, so an offset from
// another process or an earlier run is refused rather than misread.
type MemoryStore struct {
	opts   MemoryStoreOptions
	prefix string
	now    func() time.Time

	mu       sync.Mutex
	log      []memPacket // oldest first; log[i].seq increases
	bytes    int
	seq      uint64
	heads    map[string]uint64 // newest seq of each namespace
	sessions map[string]memSession
	order    []string // pids, oldest saved first (may hold taken ones)
}

type memPacket struct {
	seq uint64
	at  time.Time
	nsp string
	p   StoredPacket
}

type memSession struct {
	s       Session
	expires time.Time
}

var _ RecoveryStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore(opts MemoryStoreOptions) *MemoryStore {
	if opts.MaxPackets <= 0 {
		opts.MaxPackets = 100_000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 2 * time.Minute
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 100_000
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &MemoryStore{
		opts:     opts,
		prefix:   base64.RawURLEncoding.EncodeToString(b[:]) + "-",
		now:      time.Now,
		heads:    make(map[string]uint64),
		sessions: make(map[string]memSession),
	}
}

func packetSize(p *StoredPacket) int {
	n := len(p.Data) + 64
	for _, a := range p.Attachments {
		n += len(a)
	}
	return n
}

// Append implements RecoveryStore.
func (m *MemoryStore) Append(_ context.Context, nsp string, p StoredPacket) (string, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	p.Offset = m.offset(m.seq)
	m.log = append(m.log, memPacket{seq: m.seq, at: now, nsp: nsp, p: p})
	m.bytes += packetSize(&p)
	m.heads[nsp] = m.seq
	m.trimLocked(now)
	return p.Offset, nil
}

func (m *MemoryStore) offset(seq uint64) string { return m.prefix + strconv.FormatUint(seq, 36) }

// parse returns the sequence number of an offset of this store.
func (m *MemoryStore) parse(offset string) (uint64, bool) {
	rest, ok := strings.CutPrefix(offset, m.prefix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 36, 64)
	return seq, err == nil
}

// trimLocked drops the oldest packets past the bounds.
func (m *MemoryStore) trimLocked(now time.Time) {
	cut := 0
	for cut < len(m.log) {
		e := &m.log[cut]
		over := len(m.log)-cut > m.opts.MaxPackets || m.bytes > m.opts.MaxBytes || now.Sub(e.at) > m.opts.MaxAge
		if !over {
			break
		}
		m.bytes -= packetSize(&e.p)
		cut++
	}
	if cut > 0 {
		clear(m.log[:cut])
		m.log = m.log[cut:]
		if cap(m.log) > 2*len(m.log)+1024 {
			m.log = append([]memPacket(nil), m.log...) // let the trimmed backing array go
		}
	}
}

// Head implements RecoveryStore.
func (m *MemoryStore) Head(_ context.Context, nsp string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq := m.heads[nsp]; seq > 0 {
		return m.offset(seq), nil
	}
	// Nothing stored yet in nsp: the head of the whole log (0 when empty)
	// marks "from now on" just as well, and tells a trimmed log apart.
	return m.offset(m.seq), nil
}

// Save implements RecoveryStore.
func (m *MemoryStore) Save(_ context.Context, s Session, ttl time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.sessions[s.PID]; ok && old.s.Owner != s.Owner && now.Before(old.expires) {
		return nil // moved to a newer connection
	}
	m.sessions[s.PID] = memSession{s: s, expires: now.Add(ttl)}
	m.order = append(m.order, s.PID)
	// Drop expired sessions, and the oldest past MaxSessions. Sessions
	// share one ttl, so the oldest saved expires first.
	for len(m.order) > 0 {
		pid := m.order[0]
		ms, ok := m.sessions[pid]
		if ok && !now.After(ms.expires) && len(m.sessions) <= m.opts.MaxSessions {
			break
		}
		if ok {
			delete(m.sessions, pid)
		}
		m.order = m.order[1:]
	}
	// Taken sessions leave their pid in order: compact now and then.
	if len(m.order) > 2*len(m.sessions)+1024 {
		live := make([]string, 0, len(m.sessions))
		for _, pid := range m.order {
			if _, ok := m.sessions[pid]; ok {
				live = append(live, pid)
			}
		}
		m.order = live
	}
	return nil
}

// Take implements RecoveryStore.
func (m *MemoryStore) Take(_ context.Context, pid string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.sessions[pid]
	if !ok {
		return Session{}, ErrNoSession
	}
	delete(m.sessions, pid)
	if m.now().After(ms.expires) {
		return Session{}, ErrNoSession
	}
	return ms.s, nil
}

// Delete implements RecoveryStore.
func (m *MemoryStore) Delete(_ context.Context, pid, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms, ok := m.sessions[pid]; ok && ms.s.Owner == owner {
		delete(m.sessions, pid)
	}
	return nil
}

// Since implements RecoveryStore.
func (m *MemoryStore) Since(_ context.Context, nsp, offset string, rooms []string, limit int) ([]StoredPacket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trimLocked(m.now())
	var after uint64
	if offset != "" {
		seq, ok := m.parse(offset)
		if !ok || seq > m.seq {
			return nil, ErrOffsetGone
		}
		after = seq
	}
	// The offset itself must still be in the log (or be the newest one
	// ever appended): otherwise packets after it may have been trimmed.
	oldest := m.seq + 1
	if len(m.log) > 0 {
		oldest = m.log[0].seq
	}
	if after+1 < oldest {
		return nil, ErrOffsetGone
	}
	i := sort.Search(len(m.log), func(i int) bool { return m.log[i].seq > after })
	var out []StoredPacket
	for ; i < len(m.log); i++ {
		e := &m.log[i]
		if e.nsp != nsp || !e.p.Reaches(rooms) {
			continue
		}
		if len(out) == limit {
			return nil, ErrTooManyMissed
		}
		out = append(out, e.p)
	}
	return out, nil
}

// NotAfter implements OffsetOrder.
func (m *MemoryStore) NotAfter(a, b string) bool {
	x, ok1 := m.parse(a)
	y, ok2 := m.parse(b)
	return ok1 && ok2 && x <= y
}
