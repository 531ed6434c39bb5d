package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Scenarios lists the scenario names Run accepts.
var Scenarios = []string{"echo", "broadcast", "connect", "polling-echo", "binary-echo", "cross-node", "hold", "fanout", "reconnect", "poll-hold", "rooms"}

// Hard caps, whatever the flags say: every run is bounded in count and
// time.
const (
	MaxClients  = 20_000
	MaxOps      = 100_000_000
	MaxDuration = 2 * time.Minute
	MaxWarmup   = 10 * time.Second
	MaxHold     = 10 * time.Minute
	maxPayload  = 1 << 20
)

// Config describes one run of the load generator.
type Config struct {
	// Scenario is one of Scenarios.
	Scenario string
	// Addrs are the servers' host:port addresses, on 127.0.0.1 only.
	// Clients are spread evenly over them; the broadcast sender uses the
	// first.
	Addrs []string
	// Path is the Engine.IO path (default "/socket.io/").
	Path string
	// Clients is the number of connections (0: the scenario's default).
	Clients int
	// N bounds the operations measured (acks, broadcasts, connections).
	N int64
	// Duration bounds the measured time (default 5s).
	Duration time.Duration
	// Warmup runs the load this long before measuring (default 500ms; not
	// for connect).
	Warmup time.Duration
	// Concurrency bounds the connections being opened at once (default 64).
	Concurrency int
	// Hold is how long connect holds its connections idle before reading
	// the server's memory (default 2s).
	Hold time.Duration
	// Payload is the echo payload size, bytes (default 64).
	Payload int
	// Attachment is the binary-echo attachment size, bytes (default 64 KiB).
	Attachment int
	// InFlight bounds the broadcasts in flight (default 4).
	InFlight int
	// Timeout bounds the wait for any one answer (default 10s).
	Timeout time.Duration
	// PIDs are the server processes whose CPU time and memory are read.
	PIDs []int
	// Label names the server under test in the result.
	Label string

	// The scale scenarios (hold, fanout, reconnect):

	// Procs is the number of generator processes holding the clients
	// (0: this process holds them all, at most MaxClientsPerProc).
	Procs int
	// Exe is the executable started for each generator process (default:
	// this one, which must call ShareMain when IsShareChild).
	Exe string
	// SourceIPs spreads the clients over this many loopback source
	// addresses, 127.0.0.2 and up (0: the kernel picks 127.0.0.1), so
	// that ephemeral ports do not run out.
	SourceIPs int
	// Rate is the connections opened per second, over all processes
	// (0: as fast as Concurrency allows).
	Rate float64
	// Interval is the pause between a fanout broadcast reaching the
	// sender's share and the next broadcast (default 50ms).
	Interval time.Duration
	// MemReport asks each server for its memory after a forced GC
	// (MemPath: benchnode --mem-report, the Node fixture with
	// --expose-gc) before and after a hold.
	MemReport bool

	// The rooms scenario:

	// Rooms is the number of rooms (default 100).
	Rooms int
	// RoomSize is the members of each room (default 8, at most Clients).
	// Client g is in the rooms of memberships g, g + Clients, ... of the
	// Rooms × RoomSize (room = membership / RoomSize), so a room's members
	// are on RoomSize consecutive servers. With MemReport the memory is read
	// before and after the joins, each time Hold (at least 3s) after the
	// last traffic, once the connections are idle.
	RoomSize int
	// RoomRate is the room broadcasts sent per second, open loop
	// (default 500); N bounds their number (default 1000).
	RoomRate float64
}

// Result is the outcome of one run; it is printed as one JSON line.
type Result struct {
	Scenario string `json:"scenario"`
	Label    string `json:"label,omitempty"`
	Clients  int    `json:"clients"`
	Nodes    int    `json:"nodes"`
	// Ops are the measured operations: acks (echo kinds), broadcasts
	// sent (broadcast kinds), connections (connect).
	Ops int64 `json:"ops"`
	// Deliveries are the events received by clients (broadcast kinds).
	Deliveries    int64   `json:"deliveries,omitempty"`
	Seconds       float64 `json:"seconds"`
	OpsPerSec     float64 `json:"ops_per_sec"`
	DeliveriesSec float64 `json:"deliveries_per_sec,omitempty"`
	P50Micros     float64 `json:"p50_us,omitempty"`
	P99Micros     float64 `json:"p99_us,omitempty"`
	// ServerCPU is the servers' user+system time over the measurement.
	ServerCPU float64 `json:"server_cpu_s"`
	// ServerCPUPerOp is ServerCPU per operation, microseconds.
	ServerCPUPerOp float64 `json:"server_cpu_us_per_op"`
	// ServerCPUPerDelivery is ServerCPU per delivery, microseconds.
	ServerCPUPerDelivery float64 `json:"server_cpu_us_per_delivery,omitempty"`
	// ServerUtil is ServerCPU over the wall time (1.0 = one core busy).
	ServerUtil float64 `json:"server_util"`
	// GenUtil is the generator's own CPU over the wall time (its child
	// processes included; for fanout, over the broadcasts).
	GenUtil float64 `json:"gen_util"`
	// OtherUtil is the CPU every other process on the machine used over
	// the wall time (brokers included): interference with the run.
	OtherUtil float64 `json:"other_util"`
	// RSSPerConn is the servers' resident memory growth per idle
	// connection (connect), bytes.
	RSSPerConn float64 `json:"rss_per_conn_bytes,omitempty"`
	// PeakRSS is the servers' summed VmHWM at the end, bytes.
	PeakRSS        int64  `json:"peak_rss_bytes"`
	Errors         int64  `json:"errors"`
	ProtocolErrors int64  `json:"protocol_errors"`
	FirstError     string `json:"first_error,omitempty"`

	// Scale scenarios. Procs is the generator processes (0: one, the
	// coordinating process itself); Connected the connections opened.
	Procs     int `json:"procs,omitempty"`
	Connected int `json:"connected,omitempty"`
	// StormSeconds is the time from the first dial to the last
	// connection ready (its namespace CONNECT answered); StormErrors the
	// connections that failed.
	StormSeconds  float64 `json:"storm_s,omitempty"`
	StormErrors   int64   `json:"storm_errors,omitempty"`
	ConnP50Micros float64 `json:"connect_p50_us,omitempty"`
	ConnP99Micros float64 `json:"connect_p99_us,omitempty"`
	// Hold: how long the connections were held, the heartbeats answered,
	// the servers' CPU over the hold (IdleUtil: 1.0 is one core;
	// IdleCPUPerConn: µs per connection per second), and the memory
	// growth per connection, split when MemReport is on.
	HoldSeconds       float64     `json:"hold_s,omitempty"`
	Pings             int64       `json:"pings,omitempty"`
	IdleUtil          float64     `json:"idle_util,omitempty"`
	IdleCPUPerConn    float64     `json:"idle_cpu_us_per_conn_s,omitempty"`
	HeapPerConn       float64     `json:"heap_per_conn_bytes,omitempty"`
	StacksPerConn     float64     `json:"stacks_per_conn_bytes,omitempty"`
	OtherPerConn      float64     `json:"other_per_conn_bytes,omitempty"`
	GoroutinesPerConn float64     `json:"goroutines_per_conn,omitempty"`
	MemBefore         []MemReport `json:"mem_before,omitempty"`
	MemAfter          []MemReport `json:"mem_after,omitempty"`
	// Fanout: broadcasts sent, the time until the last client had each
	// (p50, p99 and max over the broadcasts), and broadcasts whose last
	// delivery came after the next was sent.
	Broadcasts      int     `json:"broadcasts,omitempty"`
	FanoutP50Micros float64 `json:"fanout_p50_us,omitempty"`
	FanoutP99Micros float64 `json:"fanout_p99_us,omitempty"`
	FanoutMaxMicros float64 `json:"fanout_max_us,omitempty"`
	Overlapped      int     `json:"overlapped,omitempty"`
	// Reconnect: time from dropping every connection to the last one
	// open again, and the connections that failed.
	ReconnectSeconds float64 `json:"reconnect_s,omitempty"`
	ReconnectErrors  int64   `json:"reconnect_errors,omitempty"`
	Reconnected      int     `json:"reconnected,omitempty"`
	ReconnP50Micros  float64 `json:"reconnect_p50_us,omitempty"`
	ReconnP99Micros  float64 `json:"reconnect_p99_us,omitempty"`
	// Rooms: the rooms and their size, the memberships joined (through
	// the "join" event) and how long that took, the servers' CPU per
	// membership joined and memory per room (with MemReport: after a
	// forced GC, summed over the servers, the growth from before the
	// joins to after), the room broadcasts' send rate and the deliveries
	// missing. Broadcasts, the fan-out figures (per room broadcast: until
	// its last member had it) and the per-delivery figures are filled as
	// for fanout; ServerCPUPerOp is per room broadcast.
	Rooms                int     `json:"rooms,omitempty"`
	RoomSize             int     `json:"room_size,omitempty"`
	Memberships          int     `json:"memberships,omitempty"`
	JoinSeconds          float64 `json:"join_s,omitempty"`
	JoinErrors           int64   `json:"join_errors,omitempty"`
	JoinCPUPerMembership float64 `json:"join_cpu_us_per_membership,omitempty"`
	RSSPerRoom           float64 `json:"rss_per_room_bytes,omitempty"`
	HeapPerRoom          float64 `json:"heap_per_room_bytes,omitempty"`
	SendRate             float64 `json:"send_rate,omitempty"`
	Missing              int64   `json:"missing,omitempty"`
}

// Summary is a one-line human description of r.
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-10s clients=%d nodes=%d ops=%d in %.2fs: %.0f ops/s", r.Scenario, r.Label, r.Clients, r.Nodes, r.Ops, r.Seconds, r.OpsPerSec)
	if r.Deliveries > 0 {
		fmt.Fprintf(&b, ", %.0f deliveries/s, %.2f µs CPU/delivery", r.DeliveriesSec, r.ServerCPUPerDelivery)
	}
	fmt.Fprintf(&b, ", %.2f µs CPU/op (server util %.2f, gen util %.2f, others %.2f)", r.ServerCPUPerOp, r.ServerUtil, r.GenUtil, r.OtherUtil)
	if r.P99Micros > 0 {
		fmt.Fprintf(&b, ", p50 %.0fµs p99 %.0fµs", r.P50Micros, r.P99Micros)
	}
	if isScale(r.Scenario) {
		b.WriteString(scaleSummary(r))
	} else if r.RSSPerConn != 0 {
		fmt.Fprintf(&b, ", %.1f KiB RSS/conn", r.RSSPerConn/1024)
	}
	fmt.Fprintf(&b, ", peak RSS %.1f MiB", float64(r.PeakRSS)/(1<<20))
	if r.Errors > 0 || r.ProtocolErrors > 0 {
		fmt.Fprintf(&b, ", ERRORS %d protocol %d (%s)", r.Errors, r.ProtocolErrors, r.FirstError)
	}
	return b.String()
}

func (c *Config) defaults() error {
	def := map[string]int{"echo": 50, "broadcast": 500, "connect": 2000, "polling-echo": 20, "binary-echo": 10, "cross-node": 1000,
		"hold": 2000, "fanout": 2000, "reconnect": 2000, "poll-hold": 1000, "rooms": 2000}
	d, ok := def[c.Scenario]
	if !ok {
		return fmt.Errorf("bench: unknown scenario %q (want one of %s)", c.Scenario, strings.Join(Scenarios, ", "))
	}
	if len(c.Addrs) == 0 {
		return errors.New("bench: no server address")
	}
	for _, a := range c.Addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" {
			return fmt.Errorf("bench: address %q: only 127.0.0.1:port is allowed", a)
		}
	}
	if c.Path == "" {
		c.Path = "/socket.io/"
	}
	if c.Clients <= 0 {
		c.Clients = d
	}
	if c.Scenario == "cross-node" || c.Scenario == "broadcast" {
		c.Clients = max(c.Clients, 1)
	}
	if isScale(c.Scenario) {
		c.Procs = min(max(c.Procs, 0), MaxProcs)
		c.Clients = min(c.Clients, max(c.Procs, 1)*MaxClientsPerProc)
		c.SourceIPs = min(max(c.SourceIPs, 0), MaxSourceIPs)
		c.Rate = max(c.Rate, 0)
		if c.Interval <= 0 {
			c.Interval = 50 * time.Millisecond
		}
		if c.Scenario == "rooms" {
			c.roomDefaults()
		}
		if c.Scenario == "fanout" && (c.N <= 0 || c.N > MaxBroadcasts) {
			c.N = min(max(c.N, 0), MaxBroadcasts)
			if c.N == 0 {
				c.N = 50
			}
		}
	} else {
		c.Clients = min(c.Clients, MaxClients)
	}
	if c.N <= 0 || c.N > MaxOps {
		c.N = MaxOps
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	c.Duration = min(c.Duration, MaxDuration)
	if c.Warmup < 0 {
		c.Warmup = 0
	} else if c.Warmup == 0 {
		c.Warmup = 500 * time.Millisecond
	}
	c.Warmup = min(c.Warmup, MaxWarmup)
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Hold <= 0 {
		c.Hold = 2 * time.Second
	}
	c.Hold = min(c.Hold, MaxHold)
	c.Concurrency = min(c.Concurrency, MaxClientsPerProc)
	if c.Payload <= 0 {
		c.Payload = 64
	}
	if c.Attachment <= 0 {
		c.Attachment = 64 << 10
	}
	c.Payload = min(c.Payload, maxPayload)
	c.Attachment = min(c.Attachment, maxPayload)
	if c.InFlight <= 0 {
		c.InFlight = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	return nil
}

// Run runs one scenario against the servers in cfg and measures it. The
// run ends after cfg.N operations or cfg.Duration, whichever comes first,
// or when ctx is done.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	// Connecting, warm-up, measurement, drain and hold all fit in this.
	ctx, cancel := context.WithTimeout(ctx, runLimit(cfg))
	defer cancel()
	r := &runner{cfg: cfg, ctx: ctx, res: Result{Scenario: cfg.Scenario, Label: cfg.Label, Clients: cfg.Clients, Nodes: len(cfg.Addrs)}}
	var err error
	switch cfg.Scenario {
	case "echo":
		err = r.echo(false)
	case "binary-echo":
		err = r.echo(true)
	case "broadcast", "cross-node":
		err = r.broadcast()
	case "connect":
		err = r.connect()
	case "polling-echo":
		err = r.pollingEcho()
	case "hold", "fanout", "reconnect", "poll-hold", "rooms":
		err = r.scale()
	}
	r.res.Errors = r.errs.Load()
	r.res.ProtocolErrors = r.protoErrs.Load()
	if e := r.firstErr.Load(); e != nil {
		r.res.FirstError = e.(string)
	}
	if s, perr := readProcs(cfg.PIDs); perr == nil {
		r.res.PeakRSS = s.HWM
	}
	return r.res, err
}

// runner holds the state of one run.
type runner struct {
	cfg       Config
	ctx       context.Context
	res       Result
	errs      atomic.Int64
	protoErrs atomic.Int64
	pings     atomic.Int64 // Engine.IO pings answered
	genPIDs   []int        // generator processes started by a scale run
	firstErr  atomic.Value // string
	hist      histogram
	measuring atomic.Bool
	stopping  atomic.Bool
}

// fail counts an error and keeps the first message.
func (r *runner) fail(proto bool, format string, args ...any) {
	if proto {
		r.protoErrs.Add(1)
	} else {
		r.errs.Add(1)
	}
	r.firstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
}

// mark is a reading of the clocks at one end of the measurement.
type mark struct {
	wall   time.Time
	server ProcSample
	gen    time.Duration
	system time.Duration
	ops    int64
}

func (r *runner) mark(ops int64) mark {
	s, err := readProcs(r.cfg.PIDs)
	if err != nil {
		r.fail(false, "reading server process: %v", err)
	}
	gen := selfCPU()
	if g, err := readProcs(r.genPIDs); err == nil {
		gen += g.CPU
	}
	return mark{wall: time.Now(), server: s, gen: gen, system: systemBusy(), ops: ops}
}

// finish fills the common result fields from the two marks.
func (r *runner) finish(a, b mark) {
	sec := b.wall.Sub(a.wall).Seconds()
	r.res.Ops = b.ops - a.ops
	r.res.Seconds = sec
	if sec > 0 {
		r.res.OpsPerSec = float64(r.res.Ops) / sec
		r.res.ServerUtil = (b.server.CPU - a.server.CPU).Seconds() / sec
		r.res.GenUtil = (b.gen - a.gen).Seconds() / sec
		other := (b.system - a.system) - (b.server.CPU - a.server.CPU) - (b.gen - a.gen)
		r.res.OtherUtil = max(other.Seconds()/sec, 0)
	}
	r.res.ServerCPU = (b.server.CPU - a.server.CPU).Seconds()
	if r.res.Ops > 0 {
		r.res.ServerCPUPerOp = r.res.ServerCPU * 1e6 / float64(r.res.Ops)
	}
	if q := r.hist.quantile(0.5); q > 0 {
		r.res.P50Micros = float64(q) / float64(time.Microsecond)
		r.res.P99Micros = float64(r.hist.quantile(0.99)) / float64(time.Microsecond)
	}
}

// measure runs the warm-up, then measures until cfg.N operations (as
// counted by ops) or cfg.Duration, then sets stopping.
func (r *runner) measure(ops func() int64) (mark, mark) {
	r.sleep(r.cfg.Warmup)
	a := r.mark(ops())
	r.measuring.Store(true)
	deadline := a.wall.Add(r.cfg.Duration)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) && ops()-a.ops < r.cfg.N && r.ctx.Err() == nil && r.errs.Load() == 0 {
		select {
		case <-tick.C:
		case <-r.ctx.Done():
		}
	}
	b := r.mark(ops())
	r.measuring.Store(false)
	r.stopping.Store(true)
	return a, b
}

// sleep waits d or until the run's context ends.
func (r *runner) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	}
}

// selfCPU returns the generator's own user+system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// connectAll opens n WebSocket clients, at most cfg.Concurrency at once,
// client i on Addrs[i % len(Addrs)].
func (r *runner) connectAll(n int, setup func(i int, c *wsClient)) ([]*wsClient, error) {
	clients := make([]*wsClient, n)
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for i := range n {
		if r.ctx.Err() != nil || failed.Load() > 0 {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c := newWSClient(r)
			if setup != nil {
				setup(i, c)
			}
			if err := c.dial(r.cfg.Addrs[i%len(r.cfg.Addrs)]); err != nil {
				if failed.Add(1) == 1 {
					firstErr.Store(err)
				}
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if failed.Load() > 0 || r.ctx.Err() != nil {
		closeAll(clients)
		if e, ok := firstErr.Load().(error); ok {
			return nil, fmt.Errorf("bench: connecting: %d failed, first: %w", failed.Load(), e)
		}
		return nil, fmt.Errorf("bench: connecting: %w", r.ctx.Err())
	}
	return clients, nil
}

func closeAll(clients []*wsClient) {
	for _, c := range clients {
		if c != nil {
			c.close()
		}
	}
}
