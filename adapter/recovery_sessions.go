package adapter

import (
	"context"
	"time"
)

// DelegatedSessions is the session half of a RecoveryStore, done by
// another store. Event logs that cannot keep sessions (no compare-and-set,
// no read-and-delete: Kafka, RabbitMQ) embed it and keep only the events.
type DelegatedSessions struct {
	// Sessions keeps the sessions; its events are not used.
	Sessions RecoveryStore
}

// SharedAcrossNodes reports whether Sessions is a shared store.
func (d DelegatedSessions) SharedAcrossNodes() bool {
	s, ok := d.Sessions.(SharedStore)
	return ok && s.SharedAcrossNodes()
}

// Save implements RecoveryStore with Sessions.
func (d DelegatedSessions) Save(ctx context.Context, s Session, ttl time.Duration) error {
	return d.Sessions.Save(ctx, s, ttl)
}

// Take implements RecoveryStore with Sessions.
func (d DelegatedSessions) Take(ctx context.Context, pid string) (Session, error) {
	return d.Sessions.Take(ctx, pid)
}

// Delete implements RecoveryStore with Sessions.
func (d DelegatedSessions) Delete(ctx context.Context, pid, owner string) error {
	return d.Sessions.Delete(ctx, pid, owner)
}
