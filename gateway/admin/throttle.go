package admin

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Login throttling defaults.
const (
	defaultLoginFailures     = 5
	defaultAddrLoginFailures = 20
	defaultLoginLockout      = time.Minute
	// loginMaxTracked bounds the addresses and connections with failures
	// on record; past it, the records closest to expiry are dropped.
	loginMaxTracked = 10000
)

// loginRecord is the failures of one remote address or connection.
type loginRecord struct {
	failures int
	last     time.Time // the latest failure
	until    time.Time // refused until then
}

// loginThrottle counts failed logins per remote address and per
// Engine.IO connection, and refuses those with too many for a while.
type loginThrottle struct {
	max     [2]int // per address, per connection
	lockout time.Duration

	mu      sync.Mutex
	records map[string]*loginRecord // "a:" address or "c:" connection id
}

func newLoginThrottle(perAddr, perConn int, lockout time.Duration) *loginThrottle {
	return &loginThrottle{max: [2]int{perAddr, perConn}, lockout: lockout, records: make(map[string]*loginRecord)}
}

// loginKeys are the throttle's keys of a login attempt.
func loginKeys(remoteAddr, connID string) [2]string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	return [2]string{"a:" + host, "c:" + connID}
}

// refused reports how long the attempt's address or connection is still
// refused, 0 when it may try.
func (t *loginThrottle) refused(keys [2]string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if r := t.records[k]; r != nil && now.Before(r.until) {
			wait = max(wait, r.until.Sub(now))
		}
	}
	return wait
}

// failed records a failed login; it reports whether the address or the
// connection is refused from now on.
func (t *loginThrottle) failed(keys [2]string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	locked := false
	for i, k := range keys {
		r := t.records[k]
		if r == nil {
			if len(t.records) >= loginMaxTracked {
				t.evictLocked(now)
			}
			r = &loginRecord{}
			t.records[k] = r
		}
		if now.Sub(r.last) > t.lockout {
			r.failures = 0 // old failures are forgiven
		}
		r.failures++
		r.last = now
		if r.failures >= t.max[i] {
			r.failures = 0
			r.until = now.Add(t.lockout)
			locked = true
		}
	}
	return locked
}

// succeeded forgets the connection's failures (not the address's: other
// clients there may be guessing).
func (t *loginThrottle) succeeded(keys [2]string) {
	t.mu.Lock()
	delete(t.records, keys[1])
	t.mu.Unlock()
}

// evictLocked drops the records that no longer matter, and when none
// could be dropped, the one that matters the shortest.
func (t *loginThrottle) evictLocked(now time.Time) {
	var oldest string
	var oldestEnd time.Time
	for k, r := range t.records {
		end := r.last.Add(t.lockout)
		if r.until.After(end) {
			end = r.until
		}
		if now.After(end) {
			delete(t.records, k)
			continue
		}
		if oldest == "" || end.Before(oldestEnd) {
			oldest, oldestEnd = k, end
		}
	}
	if len(t.records) >= loginMaxTracked {
		delete(t.records, oldest)
	}
}

// loginRefusal is the CONNECT_ERROR message of a throttled login.
func loginRefusal(wait time.Duration) string {
	return fmt.Sprintf("too many failed logins, try again in %ds", int((wait+time.Second-1)/time.Second))
}
