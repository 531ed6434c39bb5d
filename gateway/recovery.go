package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

// RecoveryConfig configures connection state recovery (Node's
// connectionStateRecovery; socket.io-client 4.6+ takes part unchanged).
// With it on, every event emitted without an ack and not volatile, to a
// room, a namespace or one socket, is stored under an offset that the
// client receives as the event's last argument. When a connection drops
// for a reason the client did not choose (transport close or error, ping
// timeout, server shutdown), the socket's session is kept for
// MaxDisconnectionDuration; the client that comes back in time gets the
// same socket id, its rooms, data (SetData) and user session
// (SaveSession), and every stored event it missed, before the CONNECT
// answer. A client or server disconnect ends the session for good.
//
// Data and the user session travel through the store as JSON: after a
// recovery, Data holds what encoding/json decodes into an any.
type RecoveryConfig struct {
	// Enabled turns recovery on (default off, as Node).
	Enabled bool
	// MaxDisconnectionDuration is how long a session waits for its client
	// (default 2 minutes, Node's default).
	MaxDisconnectionDuration time.Duration
	// RunMiddlewares runs the connect middlewares for a recovered socket
	// too; by default they are skipped (Node's skipMiddlewares: true). The
	// connect handler runs either way; Socket.Recovered tells.
	RunMiddlewares bool
	// Store keeps the events and the sessions. Default: an
	// adapter.MemoryStore, which serves one node only; a cluster needs a
	// store its nodes share.
	Store adapter.RecoveryStore
	// MaxReplay is the most events replayed to one client (default
	// 10,000); a client that missed more gets a fresh session.
	MaxReplay int
}

func (c RecoveryConfig) withDefaults() RecoveryConfig {
	if !c.Enabled {
		return c
	}
	if c.MaxDisconnectionDuration <= 0 {
		c.MaxDisconnectionDuration = 2 * time.Minute
	}
	if c.MaxReplay <= 0 {
		c.MaxReplay = 10_000
	}
	if c.Store == nil {
		c.Store = adapter.NewMemoryStore(adapter.MemoryStoreOptions{MaxAge: c.MaxDisconnectionDuration})
	}
	return c
}

// recoveryTimeout bounds each store call on the connect and disconnect
// paths.
const recoveryTimeout = 5 * time.Second

// recoverable reports whether a disconnect keeps the session: the client
// did not choose to leave (Node's RECOVERABLE_DISCONNECT_REASONS).
func recoverable(r DisconnectReason) bool {
	switch r {
	case ReasonTransportClose, ReasonTransportError, ReasonPingTimeout, ReasonServerShutdown, ReasonForcedClose:
		return true
	}
	return false
}

// Recovered reports whether the socket is a recovered session: same id,
// rooms and data as before its connection dropped, missed events replayed.
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

// store records p for recovery when the configuration asks for it, and
// appends its offset to p's arguments. Events with an ack and volatile
// ones are not stored.
func (ns *Namespace) store(ctx context.Context, p *socketio.Packet, rooms, except []string, flags adapter.Flags) {
	rec := &ns.srv.cfg.Recovery
	if !rec.Enabled || flags.Volatile || p.HasID {
		return
	}
	off, err := rec.Store.Append(ctx, ns.name, adapter.StoredPacket{Rooms: rooms, Except: except, Data: p.Data, Attachments: p.Attachments})
	if err != nil {
		ns.srv.log.Warn("gateway: recovery store refused an event; it is delivered but cannot be replayed", "nsp", ns.name, "err", err)
		return
	}
	p.Data = withOffset(p.Data, off)
}

// withOffset returns a copy of the JSON array data with offset appended as
// its last element.
func withOffset(data []byte, offset string) []byte {
	if len(data) < 2 || data[len(data)-1] != ']' {
		return data
	}
	out := make([]byte, 0, len(data)+len(offset)+4)
	out = append(out, data[:len(data)-1]...)
	if len(data) > 2 {
		out = append(out, ',')
	}
	out = socketio.AppendString(out, offset)
	return append(out, ']')
}

// lastOffset returns the last element of a JSON array of arguments when it
// is a plain string (the offset withOffset appended), else "".
func lastOffset(data []byte) string {
	n := len(data)
	if n < 4 || data[n-1] != ']' || data[n-2] != '"' {
		return ""
	}
	for i := n - 3; i >= 0; i-- {
		switch data[i] {
		case '"':
			return string(data[i+1 : n-2])
		case '\\':
			return ""
		}
	}
	return ""
}

func newPID() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// prepareRecovery runs before a socket registers: it restores the session
// the client presented, or gives a fresh socket its private id. It reports
// whether the socket was recovered.
func (ns *Namespace) prepareRecovery(s *Socket) bool {
	rec := &ns.srv.cfg.Recovery
	ctx, cancel := context.WithTimeout(context.Background(), recoveryTimeout)
	defer cancel()
	s.owner = newPID()
	if ns.recoverSession(ctx, s) {
		return true
	}
	s.pid = newPID()
	head, err := rec.Store.Head(ctx, ns.name)
	if err != nil {
		ns.srv.log.Warn("gateway: recovery store unavailable; this socket may not recover all events", "nsp", ns.name, "err", err)
	}
	s.baseOffset = head
	return false
}

// recoverSession restores the session named by the client's auth pid.
// The socket registers before the missed events are read: an event stored
// after the read reaches it live (held until the CONNECT answer), one
// stored before is in the replay, and the replay's offsets tell which held
// frames to drop, so nothing is lost or doubled.
func (ns *Namespace) recoverSession(ctx context.Context, s *Socket) bool {
	var a struct {
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	if json.Unmarshal(s.auth, &a) != nil || a.PID == "" {
		return false
	}
	rec := &ns.srv.cfg.Recovery
	log := ns.srv.log
	sess, err := rec.Store.Take(ctx, a.PID)
	if err != nil {
		log.Info("gateway: recovery failed, fresh session", "nsp", ns.name, "cause", err)
		ns.recoveryOutcome(RecoveryUnknownSession)
		return false
	}
	// A session Node's redis-streams-adapter wrote names no namespace (a
	// pid is per socket, so per namespace, anyway).
	if sess.Namespace != "" && sess.Namespace != ns.name || sess.SID == "" {
		log.Info("gateway: recovery failed, fresh session", "nsp", ns.name, "cause", "session of another namespace")
		ns.recoveryOutcome(RecoveryOtherNamespace)
		return false
	}
	ns.mu.Lock()
	_, live := ns.sockets[sess.SID]
	_, other := ns.others[sess.SID]
	if live || other {
		ns.mu.Unlock()
		log.Info("gateway: recovery failed, fresh session", "nsp", ns.name, "cause", "the session's socket is still connected")
		ns.recoveryOutcome(RecoveryStillConnected)
		return false
	}
	s.id = sess.SID
	s.recovering = true
	ns.sockets[s.id] = s
	ns.mu.Unlock()
	ns.adapter.AddAll(s.id, s.id)
	ns.adapter.AddAll(s.id, sess.Rooms...)

	offset := a.Offset
	if offset == "" {
		// A client that received no stored event since it connected sends
		// no offset: it missed everything after the connect.
		offset = sess.Offset
	}
	rooms := ns.adapter.Rooms(s.id)
	missed, err := rec.Store.Since(ctx, ns.name, offset, rooms, rec.MaxReplay)
	if err != nil {
		ns.mu.Lock()
		delete(ns.sockets, s.id)
		ns.mu.Unlock()
		ns.adapter.DelAll(s.id)
		s.mu.Lock()
		s.id = newSocketID()
		s.recovering = false
		s.pending = nil
		s.mu.Unlock()
		log.Info("gateway: recovery failed, fresh session", "nsp", ns.name, "cause", err)
		ns.recoveryOutcome(RecoveryReplayFailed)
		return false
	}
	s.mu.Lock()
	s.pid = sess.PID
	s.baseOffset = sess.Offset
	s.recovered = true
	s.replay = missed
	s.resumeFrom = offset
	if len(sess.Data) > 0 {
		var v any
		if json.Unmarshal(sess.Data, &v) == nil {
			s.data = v
		}
	}
	if len(sess.Values) > 0 {
		var m map[string]any
		if json.Unmarshal(sess.Values, &m) == nil {
			s.session = m
		}
	}
	s.mu.Unlock()
	log.Debug("gateway: session recovered", "nsp", ns.name, "sid", s.id, "missed", len(missed))
	ns.recoveryOutcome(RecoveryHit)
	return true
}

// replayDedupe is how long a recovered socket drops live copies of the
// events it was replayed, and of those it had before it came back: the
// time an event may take from its store append to its delivery (a
// publish held through a broker outage included).
const replayDedupe = 30 * time.Second

// replayedAlready reports whether p is an event the socket was replayed
// (and forgets it), for a recovered socket.
func (s *Socket) replayedAlready(p *socketio.Packet) bool {
	off := lastOffset(p.Data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Now().After(s.replayedUntil) {
		s.replayed = nil
		s.dedupe.Store(false)
		return false
	}
	if off == "" {
		return false
	}
	if _, ok := s.replayed[off]; ok {
		delete(s.replayed, off)
		return true
	}
	// A late copy of an event the client had before it came back.
	if s.resumeFrom != "" {
		if o, ok := s.ns.srv.cfg.Recovery.Store.(adapter.OffsetOrder); ok && o.NotAfter(off, s.resumeFrom) {
			return true
		}
	}
	return false
}

// replayFrames encodes the missed events, each with its offset, and
// returns them with the set of offsets replayed. s.mu is held.
func (s *Socket) replayFrames() ([]engineio.Frame, map[string]struct{}) {
	if len(s.replay) == 0 {
		return nil, nil
	}
	frames := make([]engineio.Frame, 0, len(s.replay))
	seen := make(map[string]struct{}, len(s.replay))
	for i := range s.replay {
		sp := &s.replay[i]
		p := socketio.Packet{Type: socketio.Event, Namespace: s.ns.name, Data: withOffset(sp.Data, sp.Offset), Attachments: sp.Attachments}
		if len(p.Attachments) > 0 {
			p.Type = socketio.BinaryEvent
		}
		f, all, err := s.ns.srv.encode(&p)
		if err != nil {
			s.ns.srv.log.Error("gateway: cannot encode a replayed event", "nsp", s.ns.name, "err", err)
			continue
		}
		if all == nil {
			frames = append(frames, f)
		} else {
			frames = append(frames, all...)
		}
		seen[sp.Offset] = struct{}{}
	}
	s.replay = nil
	return frames, seen
}

// persist keeps the session of a socket whose connection dropped.
func (s *Socket) persist() { s.saveSession(s.ns.srv.cfg.Recovery.MaxDisconnectionDuration) }

// forgetSession ends the session of a socket that left for good.
func (s *Socket) forgetSession() {
	ctx, cancel := context.WithTimeout(context.Background(), recoveryTimeout)
	defer cancel()
	if err := s.ns.srv.cfg.Recovery.Store.Delete(ctx, s.pid, s.owner); err != nil {
		s.ns.srv.log.Warn("gateway: recovery session not deleted", "nsp", s.ns.name, "sid", s.id, "err", err)
	}
}

// saveSession saves the socket's session for ttl.
func (s *Socket) saveSession(ttl time.Duration) {
	rec := &s.ns.srv.cfg.Recovery
	sess := adapter.Session{PID: s.pid, SID: s.id, Namespace: s.ns.name, Rooms: s.Rooms(), Offset: s.baseOffset, Owner: s.owner}
	if d := s.Data(); d != nil {
		if b, err := json.Marshal(d); err == nil {
			sess.Data = b
		} else {
			s.ns.srv.log.Warn("gateway: socket data cannot be kept for recovery (not JSON)", "sid", s.id, "err", err)
		}
	}
	if v := s.GetSession(); len(v) > 0 {
		if b, err := json.Marshal(v); err == nil {
			sess.Values = b
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), recoveryTimeout)
	defer cancel()
	if err := rec.Store.Save(ctx, sess, ttl); err != nil {
		s.ns.srv.log.Warn("gateway: recovery session not saved", "nsp", s.ns.name, "sid", s.id, "err", err)
	}
}

// keeper saves the sessions of connected sockets in a shared store, so
// that a client whose node dies without a word still finds its session on
// another node. Changes (connect, rooms, data, user session) are saved
// within keeperFlush; every session is refreshed each half
// MaxDisconnectionDuration, with a lifetime that covers the gap.
type keeper struct {
	srv  *Server
	wake chan struct{}
	done chan struct{}
	stop sync.Once

	mu    sync.Mutex
	dirty map[*Socket]struct{}
}

// keeperWorkers is how many sessions the keeper saves at once.
const keeperWorkers = 4

// keeperFlush is how long a change waits before it is saved, so that
// changes in a burst are saved once.
const keeperFlush = 200 * time.Millisecond

func newKeeper(srv *Server) *keeper {
	k := &keeper{srv: srv, wake: make(chan struct{}, 1), done: make(chan struct{}), dirty: make(map[*Socket]struct{})}
	go k.run()
	return k
}

// touch marks s to be saved soon.
func (k *keeper) touch(s *Socket) {
	if k == nil || s.pid == "" {
		return
	}
	k.mu.Lock()
	k.dirty[s] = struct{}{}
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *keeper) close() { k.stop.Do(func() { close(k.done) }) }

func (k *keeper) run() {
	rec := &k.srv.cfg.Recovery
	refresh := time.NewTicker(rec.MaxDisconnectionDuration / 2)
	defer refresh.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-refresh.C:
			for _, ns := range k.srv.Namespaces() {
				for _, s := range ns.Sockets() {
					k.touch(s)
				}
			}
		case <-k.wake:
			select {
			case <-k.done:
				return
			case <-time.After(keeperFlush):
			}
		}
		k.mu.Lock()
		batch := make([]*Socket, 0, len(k.dirty))
		for s := range k.dirty {
			batch = append(batch, s)
		}
		clear(k.dirty)
		k.mu.Unlock()
		// A live session outlives a refresh period plus the time its
		// client may take to come back.
		ttl := rec.MaxDisconnectionDuration + rec.MaxDisconnectionDuration/2
		// A few saves at a time: a connect storm's sessions reach the
		// store in a fraction of the time one by one would take.
		work := make(chan *Socket)
		var wg sync.WaitGroup
		for range min(keeperWorkers, len(batch)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := range work {
					if s.Connected() {
						s.saveSession(ttl)
					}
				}
			}()
		}
		for _, s := range batch {
			work <- s
		}
		close(work)
		wg.Wait()
	}
}
