package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// Connection state recovery (Socket.IO's connectionStateRecovery): every
// event broadcast in a namespace without an ack and not volatile is
// stored under an offset, which travels to the clients as the event's last
// argument. When a socket's connection drops for a reason the client did
// not choose, its session (id, rooms, data) is kept; a client that comes
// back within the allowed time presents the session's private id and the
// last offset it received, and gets the same socket id, its rooms and
// data, and every stored event it missed.
//
// A RecoveryStore holds the two: the events and the sessions. The memory
// store serves one node; a cluster needs a store every node shares (the
// broker modules provide them), so that a client may come back on another
// node. A shared store says so with SharedStore: the gateway then also
// saves the sessions of connected sockets (and refreshes them), so that a
// client whose node dies without a word still recovers elsewhere.

// SharedStore is implemented by stores that every node of a cluster
// reaches.
type SharedStore interface {
	RecoveryStore
	// SharedAcrossNodes reports that the store is shared.
	SharedAcrossNodes() bool
}

// StoredPacket is an event kept for recovery. Data is the event's JSON
// array without the offset; Rooms and Except are the broadcast's selection.
type StoredPacket struct {
	Offset      string   `json:"-"`
	Rooms       []string `json:"rooms,omitempty"`
	Except      []string `json:"except,omitempty"`
	Data        []byte   `json:"data"`
	Attachments [][]byte `json:"attachments,omitempty"`
}

// Reaches reports whether the packet was meant for a socket in rooms (its
// own id among them), as Node's in-memory adapter decides.
func (p *StoredPacket) Reaches(rooms []string) bool {
	included := len(p.Rooms) == 0
	for _, r := range rooms {
		if slices.Contains(p.Except, r) {
			return false
		}
		if !included && slices.Contains(p.Rooms, r) {
			included = true
		}
	}
	return included
}

// Session is what is kept of a socket whose connection dropped.
type Session struct {
	// PID is the private session id the client presents to recover.
	PID string `json:"pid"`
	// SID is the socket id, kept on recovery.
	SID       string `json:"sid"`
	Namespace string `json:"nsp"`
	// Rooms the socket was in (its own id included).
	Rooms []string `json:"rooms"`
	// Data is the socket's data (SetData), as JSON.
	Data json.RawMessage `json:"data,omitempty"`
	// Values is the socket's user session (SaveSession), as JSON.
	Values json.RawMessage `json:"values,omitempty"`
	// Offset is the newest offset when the socket connected: a client that
	// received no stored event since presents no offset, and missed
	// everything after this one.
	Offset string `json:"offset,omitempty"`
	// Owner identifies the connection that holds (or last held) the
	// session. A session recovered elsewhere gets a new owner, and the
	// old holder's late saves and deletes are then refused.
	Owner string `json:"owner,omitempty"`
}

// Errors of a RecoveryStore. Each means the client gets a fresh session.
var (
	// ErrNoSession: the session is unknown, expired or already taken.
	ErrNoSession = errors.New("adapter: no such recovery session (unknown, expired or taken)")
	// ErrOffsetGone: the offset is unknown or was trimmed from the store.
	ErrOffsetGone = errors.New("adapter: recovery offset unknown or trimmed")
	// ErrTooManyMissed: more packets were missed than a replay may hold.
	ErrTooManyMissed = errors.New("adapter: too many missed packets to replay")
)

// RecoveryStore keeps what connection state recovery needs. Its methods
// are safe for concurrent use.
type RecoveryStore interface {
	// Append stores a packet of namespace nsp and returns its offset.
	// Offsets are unique within the store.
	Append(ctx context.Context, nsp string, p StoredPacket) (offset string, err error)
	// Head returns the newest offset of nsp ("" when nothing is stored).
	Head(ctx context.Context, nsp string) (string, error)
	// Save keeps s until ttl has passed, replacing an earlier save of
	// the same PID unless that one has another Owner (the session moved
	// to a newer connection since): then it does nothing.
	Save(ctx context.Context, s Session, ttl time.Duration) error
	// Take returns the session pid and removes it, so that a session is
	// recovered at most once.
	Take(ctx context.Context, pid string) (Session, error)
	// Delete removes the session pid if owner holds it (the client or the
	// server ended it for good).
	Delete(ctx context.Context, pid, owner string) error
	// Since returns, oldest first, the packets of nsp stored after offset
	// ("" meaning from the beginning of the namespace) that reach a socket
	// in rooms. It fails with ErrOffsetGone when the offset is not (or no
	// longer) in the store, and ErrTooManyMissed past limit packets.
	Since(ctx context.Context, nsp, offset string, rooms []string, limit int) ([]StoredPacket, error)
}

// OffsetOrder is implemented by stores whose offsets can be compared: the
// gateway then also drops, for a while after a recovery, a late live copy
// of an event the client had already received before its connection
// dropped (a broker that delivers to the new node after the client came
// back there). NotAfter reports whether a is b or was stored before it;
// false when either is not an offset of the store.
type OffsetOrder interface {
	NotAfter(a, b string) bool
}
