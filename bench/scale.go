package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"
)

// The scale scenarios (hold, fanout, reconnect) open many connections,
// possibly from several generator processes ("shares", see scaleproc.go),
// each process holding fewer than its file-descriptor limit.
const (
	// MaxClientsPerProc bounds the connections one generator process
	// holds: a process may open 20,000 files here, one per connection.
	MaxClientsPerProc = 19_000
	// MaxProcs bounds the generator processes of one run.
	MaxProcs = 16
	// MaxBroadcasts bounds the broadcasts of one fanout run.
	MaxBroadcasts = 10_000
	// MaxSourceIPs bounds the loopback source addresses of one run.
	MaxSourceIPs = 250
)

// isScale reports whether scenario is one of the scale scenarios.
func isScale(scenario string) bool {
	return scenario == "hold" || scenario == "fanout" || scenario == "reconnect" || scenario == "poll-hold" || scenario == "rooms"
}

// sourceIP returns the loopback address client i binds when a run spreads
// its clients over n source addresses: 127.0.0.2 and up. Every address of
// 127.0.0.0/8 is local on Linux, so each gives another set of ephemeral
// ports towards the same server.
func sourceIP(i, n int) net.IP {
	if n <= 0 {
		return nil
	}
	return net.IPv4(127, 0, 0, byte(2+i%n))
}

// sourceDialer returns a dialer binding ip (any when nil) as the source
// address. With a source address it sets IP_BIND_ADDRESS_NO_PORT before
// the bind, so that the kernel picks the source port at connect time
// from the whole 4-tuple, as it does for an unbound socket. Without it,
// bind(ip, 0) must find a port no other socket on ip holds, the client
// ends of closed connections in TIME_WAIT included: after a reconnect
// storm has dropped every connection, each new dial then searches a
// port range half full of them (see README, deployment notes).
func sourceDialer(ip net.IP, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if ip == nil {
		return d
	}
	d.LocalAddr = &net.TCPAddr{IP: ip}
	d.Control = func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}
	return d
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (since 4.2;
// the syscall package does not name it).
const ipBindAddressNoPort = 24

// stormReport is what one share saw while opening its connections.
type stormReport struct {
	Connected int    `json:"connected"`
	Failed    int    `json:"failed"`
	FirstErr  string `json:"first_err,omitempty"`
	// StartNs and EndNs are the wall clock (Unix ns) of the first dial
	// and of the last namespace CONNECT answer.
	StartNs int64 `json:"start_ns"`
	EndNs   int64 `json:"end_ns"`
	// Lat is the histogram of connection times (dial to CONNECT answer).
	Lat map[int]int64 `json:"lat,omitempty"`
}

// shareReport is a share's final account.
type shareReport struct {
	Errors         int64         `json:"errors"`
	ProtocolErrors int64         `json:"protocol_errors"`
	FirstErr       string        `json:"first_err,omitempty"`
	Pings          int64         `json:"pings"`
	Deliveries     int64         `json:"deliveries"`
	Last           []int64       `json:"last,omitempty"` // per broadcast: latest arrival minus send, ns
	Got            []int64       `json:"got,omitempty"`  // per broadcast: deliveries in this share
	Sent           []int64       `json:"sent,omitempty"` // sender only: each broadcast's send time, Unix ns
	Lat            map[int]int64 `json:"lat,omitempty"`  // per-delivery latency histogram
	Want           []int64       `json:"want,omitempty"` // rooms: this share's members of each room
}

// share is the part of a scale run one generator process holds: clients
// First..First+Count-1 of the run.
type share struct {
	spec    shareSpec
	r       *runner
	clients []*wsClient

	connLat  histogram
	last     []atomic.Int64
	got      []atomic.Int64
	sent     []int64
	progress chan struct{}
	delivers atomic.Int64
	nlive    atomic.Int64 // connected clients, set after connect
	poll     *pollShare   // poll-hold: the long-polling clients
	want     []int64      // rooms: this share's members of each room
}

// shareSpec is what one share is told to do.
type shareSpec struct {
	Cfg    Config `json:"cfg"`
	Index  int    `json:"index"`
	First  int    `json:"first"`
	Count  int    `json:"count"`
	Sender bool   `json:"sender"`
}

func newShare(r *runner, spec shareSpec) *share {
	s := &share{spec: spec, r: r, progress: make(chan struct{}, 1)}
	n := broadcasts(spec.Cfg)
	s.last = make([]atomic.Int64, n)
	s.got = make([]atomic.Int64, n)
	return s
}

// broadcasts is the number of broadcasts a fanout run sends.
func broadcasts(cfg Config) int {
	switch cfg.Scenario {
	case "fanout":
		return int(min(cfg.N, MaxBroadcasts))
	case "rooms":
		return int(min(cfg.N, MaxRoomBroadcasts))
	}
	return 0
}

// connect opens the share's clients at the run's rate (its part of it),
// at most Concurrency at a time, counting failures rather than stopping
// at the first: a connect storm reports its errors.
func (s *share) connect() stormReport {
	cfg := s.r.cfg
	if cfg.Scenario == "poll-hold" {
		return s.connectPolling()
	}
	s.clients = make([]*wsClient, s.spec.Count)
	var interval time.Duration
	if cfg.Rate > 0 {
		// This share's part of the rate: Count/Clients of it.
		interval = time.Duration(float64(time.Second) * float64(cfg.Clients) / (cfg.Rate * float64(s.spec.Count)))
	}
	rep := s.storm(s.r.ctx, interval, func(i int) error {
		g := s.spec.First + i
		c := newWSClient(s.r)
		c.local = sourceIP(g, cfg.SourceIPs)
		c.onTick = s.onTick
		if cfg.Scenario == "rooms" {
			c.ackBody = emptyAck
		}
		if err := c.dial(cfg.Addrs[g%len(cfg.Addrs)]); err != nil {
			return err
		}
		s.clients[i] = c
		return nil
	})
	rep.Connected = s.live()
	s.nlive.Store(int64(rep.Connected))
	if rep.Connected+rep.Failed < s.spec.Count && rep.FirstErr == "" {
		rep.FirstErr = fmt.Sprintf("stopped: %v", s.r.ctx.Err())
		rep.Failed = s.spec.Count - rep.Connected
	}
	return rep
}

// storm runs open for each of the share's Count clients, paced by
// interval (0: at once), at most Concurrency at a time, until ctx ends.
// It counts failures rather than stopping at the first, and reports when
// the first dial began and the last open returned, with the histogram of
// the opens' times; the caller counts the clients connected.
func (s *share) storm(ctx context.Context, interval time.Duration, open func(i int) error) stormReport {
	sem := make(chan struct{}, s.r.cfg.Concurrency)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	var end atomic.Int64
	start := time.Now()
	for i := range s.spec.Count {
		if ctx.Err() != nil {
			break
		}
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				s.r.sleep(d)
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			if err := open(i); err != nil {
				if failed.Add(1) == 1 {
					firstErr.Store(err.Error())
				}
				return
			}
			now := time.Now()
			s.connLat.record(now.Sub(t0))
			for {
				e := end.Load()
				if now.UnixNano() <= e || end.CompareAndSwap(e, now.UnixNano()) {
					break
				}
			}
		}()
	}
	wg.Wait()
	rep := stormReport{Failed: int(failed.Load()), StartNs: start.UnixNano(), EndNs: end.Load(), Lat: s.connLat.snapshot()}
	if rep.EndNs == 0 {
		rep.EndNs = time.Now().UnixNano()
	}
	if e, ok := firstErr.Load().(string); ok {
		rep.FirstErr = e
	}
	return rep
}

// drop closes every client of the share at once (the TCP connections
// end without a close handshake, as when a node's clients lose it).
func (s *share) drop() {
	s.r.stopping.Store(true)
	closeAll(s.clients)
	s.clients = nil
	s.connLat = histogram{}
	s.r.stopping.Store(false)
}

// onTick records one fanout delivery: 42["tick",<seq>,<sent Unix ns>].
func (s *share) onTick(b []byte) {
	now := time.Now().UnixNano()
	seq, sent, ok := parseTick(b)
	if !ok || seq < 0 || seq >= len(s.last) {
		s.r.fail(true, "bad tick %.80q", b)
		return
	}
	lat := now - sent
	s.r.hist.record(time.Duration(lat))
	for {
		cur := s.last[seq].Load()
		if lat <= cur || s.last[seq].CompareAndSwap(cur, lat) {
			break
		}
	}
	s.delivers.Add(1)
	if s.got[seq].Add(1) == s.nlive.Load() {
		signal(s.progress, struct{}{})
	}
}

// live is the number of the share's connected clients.
func (s *share) live() int {
	n := 0
	for _, c := range s.clients {
		if c != nil {
			n++
		}
	}
	return n
}

// parseTick reads 42["tick",<seq>,<ns>].
func parseTick(b []byte) (seq int, sent int64, ok bool) {
	rest, found := bytes.CutPrefix(b, tickHead)
	if !found {
		return 0, 0, false
	}
	a, rest, found := bytes.Cut(rest, []byte{','})
	if !found {
		return 0, 0, false
	}
	z, found := bytes.CutSuffix(rest, []byte{']'})
	if !found {
		return 0, 0, false
	}
	q, err1 := strconv.Atoi(string(a))
	t, err2 := strconv.ParseInt(string(z), 10, 64)
	return q, t, err1 == nil && err2 == nil
}

// fanout sends the run's broadcasts from the share's first client, one at
// a time: each waits until every client of this share has it, then
// cfg.Interval more (the other shares' clients get theirs meanwhile; the
// parent checks that no broadcast overlapped the next).
func (s *share) fanout() error {
	cfg := s.r.cfg
	var sender *wsClient
	for _, c := range s.clients {
		if c != nil {
			sender = c
			break
		}
	}
	if sender == nil {
		return errors.New("bench: fanout: the sending share has no connection")
	}
	live := s.nlive.Load()
	deadline := time.Now().Add(cfg.Duration)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var buf []byte
	for seq := range len(s.last) {
		if time.Now().After(deadline) || s.r.ctx.Err() != nil {
			break
		}
		now := time.Now().UnixNano()
		buf = append(buf[:0], `42["broadcast",`...)
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, now, 10)
		buf = append(buf, ']')
		s.sent = append(s.sent, now)
		if err := sender.conn.WriteMessage(gws.OpcodeText, buf); err != nil {
			return fmt.Errorf("bench: fanout: write: %w", err)
		}
		timer.Reset(cfg.Timeout)
		for s.got[seq].Load() < live {
			select {
			case <-s.progress:
			case <-timer.C:
				return fmt.Errorf("bench: fanout: broadcast %d reached %d of this generator's %d clients within %v", seq, s.got[seq].Load(), live, cfg.Timeout)
			case <-s.r.ctx.Done():
				return s.r.ctx.Err()
			}
		}
		s.r.sleep(cfg.Interval)
	}
	return nil
}

// report is the share's final account.
func (s *share) report() shareReport {
	rep := shareReport{
		Errors:         s.r.errs.Load(),
		ProtocolErrors: s.r.protoErrs.Load(),
		Pings:          s.r.pings.Load(),
		Deliveries:     s.delivers.Load(),
		Sent:           s.sent,
		Lat:            s.r.hist.snapshot(),
		Want:           s.want,
	}
	if e := s.r.firstErr.Load(); e != nil {
		rep.FirstErr = e.(string)
	}
	for i := range s.last {
		rep.Last = append(rep.Last, s.last[i].Load())
		rep.Got = append(rep.Got, s.got[i].Load())
	}
	return rep
}

// close ends the share's connections.
func (s *share) close() {
	s.r.stopping.Store(true)
	closeAll(s.clients)
	s.clients = nil
	if s.poll != nil {
		s.poll.close()
		s.poll = nil
	}
}

// quantileNs returns the q quantile of v (nanoseconds), 0 when empty.
func quantileNs(v []int64, q float64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
