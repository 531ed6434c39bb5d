package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// The rooms scenario: after the connect storm every client joins its
// rooms through the "join" event (the server puts it in them), then
// room broadcasts ("to-room", emitted by the server to the room) go out
// at a bounded rate, round-robin over the rooms, and every member counts
// what it gets.
//
// Membership m (0 ≤ m < Rooms × RoomSize) is room m / RoomSize's, held
// by client m mod Clients. Clients are spread over the servers
// round-robin (client g on Addrs[g mod len(Addrs)]), so a room's members
// are consecutive clients and sit on RoomSize consecutive servers: with
// RoomSize ≥ the servers, every room has members on every server. When
// there are more memberships than clients, a client is in several rooms.
const (
	// MaxRooms bounds the rooms of one run.
	MaxRooms = 200_000
	// MaxRoomSize bounds the members of one room.
	MaxRoomSize = 10_000
	// MaxMemberships bounds Rooms × RoomSize.
	MaxMemberships = 1_000_000
	// MaxRoomBroadcasts bounds the room broadcasts of one run.
	MaxRoomBroadcasts = 200_000
	// MaxRoomRate bounds the room broadcasts sent per second.
	MaxRoomRate = 50_000
)

// emptyAck is the ack body of a join: no arguments.
var emptyAck = []byte("[]")

// roomName is the name of room i.
func roomName(i int) string { return "r" + strconv.Itoa(i) }

// clientRooms returns the rooms client g joins.
func clientRooms(cfg Config, g int) []string {
	var rooms []string
	for m := g; m < cfg.Rooms*cfg.RoomSize; m += cfg.Clients {
		rooms = append(rooms, roomName(m/cfg.RoomSize))
	}
	return rooms
}

// roomDefaults completes the rooms scenario's settings.
func (c *Config) roomDefaults() {
	if c.Rooms <= 0 {
		c.Rooms = 100
	}
	if c.RoomSize <= 0 {
		c.RoomSize = 8
	}
	c.Rooms = min(c.Rooms, MaxRooms)
	c.RoomSize = min(c.RoomSize, MaxRoomSize, c.Clients)
	c.Rooms = min(c.Rooms, MaxMemberships/c.RoomSize)
	if c.N <= 0 {
		c.N = 1000
	}
	c.N = min(c.N, MaxRoomBroadcasts)
	if c.RoomRate <= 0 {
		c.RoomRate = 500
	}
	c.RoomRate = min(c.RoomRate, MaxRoomRate)
}

// joinReport is what one share saw while joining its clients' rooms.
type joinReport struct {
	Joined  int    `json:"joined"` // memberships acknowledged
	Failed  int    `json:"failed"`
	FirstEr string `json:"first_err,omitempty"`
	StartNs int64  `json:"start_ns"`
	EndNs   int64  `json:"end_ns"`
}

// join has every connected client of the share join its rooms, one
// "join" event with an ack each, at most Concurrency at a time, and
// notes how many of the share's clients are in each room.
func (s *share) join() joinReport {
	cfg := s.r.cfg
	s.want = make([]int64, cfg.Rooms)
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	var joined, failed atomic.Int64
	var firstErr atomic.Value
	rep := joinReport{StartNs: time.Now().UnixNano()}
	for i, c := range s.clients {
		if c == nil || s.r.ctx.Err() != nil {
			continue
		}
		rooms := clientRooms(cfg, s.spec.First+i)
		if len(rooms) == 0 {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := c.joinRooms(rooms); err != nil {
				if failed.Add(int64(len(rooms))) == int64(len(rooms)) {
					firstErr.Store(err.Error())
				}
				return
			}
			joined.Add(int64(len(rooms)))
		}()
		for _, room := range rooms {
			n, _ := strconv.Atoi(room[1:])
			s.want[n]++
		}
	}
	wg.Wait()
	rep.EndNs = time.Now().UnixNano()
	rep.Joined, rep.Failed = int(joined.Load()), int(failed.Load())
	if e, ok := firstErr.Load().(string); ok {
		rep.FirstEr = e
	}
	return rep
}

// joinRooms sends 42<id>["join",rooms...] and waits for its empty ack.
func (c *wsClient) joinRooms(rooms []string) error {
	id := c.ackID.Add(1)
	b := append([]byte("42"), strconv.FormatUint(id, 10)...)
	b = append(b, `["join"`...)
	for _, r := range rooms {
		b = append(b, `,"`...)
		b = append(b, r...)
		b = append(b, '"')
	}
	b = append(b, ']')
	if err := c.conn.WriteMessage(gws.OpcodeText, b); err != nil {
		return fmt.Errorf("bench: join: write: %w", err)
	}
	t := time.NewTimer(c.r.cfg.Timeout)
	defer t.Stop()
	select {
	case ok := <-c.done:
		if !ok {
			return errors.New("bench: join: wrong answer")
		}
		return nil
	case <-t.C:
		return fmt.Errorf("bench: join: no ack within %v", c.r.cfg.Timeout)
	case <-c.r.ctx.Done():
		return c.r.ctx.Err()
	}
}

// sendRooms sends the run's room broadcasts at cfg.RoomRate, open loop,
// room seq mod Rooms for broadcast seq, from the share's first client on
// each server in turn (its first len(Addrs) clients), for at most
// cfg.Duration. It returns how many it sent.
func (s *share) sendRooms() (int, error) {
	cfg := s.r.cfg
	var senders []*wsClient
	for _, c := range s.clients[:min(len(cfg.Addrs), len(s.clients))] {
		if c != nil {
			senders = append(senders, c)
		}
	}
	if len(senders) == 0 {
		return 0, errors.New("bench: rooms: the sending share has no connection")
	}
	interval := time.Duration(float64(time.Second) / cfg.RoomRate)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var buf []byte
	for seq := range len(s.last) {
		at := start.Add(time.Duration(seq) * interval)
		if at.After(deadline) || s.r.ctx.Err() != nil {
			break
		}
		if d := time.Until(at); d > 0 {
			s.r.sleep(d)
		}
		now := time.Now().UnixNano()
		buf = append(buf[:0], `42["to-room","r`...)
		buf = strconv.AppendInt(buf, int64(seq%cfg.Rooms), 10)
		buf = append(buf, `",`...)
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, now, 10)
		buf = append(buf, ']')
		s.sent = append(s.sent, now)
		if err := senders[seq%len(senders)].conn.WriteMessage(gws.OpcodeText, buf); err != nil {
			return len(s.sent), fmt.Errorf("bench: rooms: write: %w", err)
		}
	}
	return len(s.sent), nil
}

// drainRooms waits until the share's members have every one of the
// first n room broadcasts meant for them, at most cfg.Timeout.
func (s *share) drainRooms(n int) error {
	cfg := s.r.cfg
	var want int64
	for seq := range min(n, len(s.last)) {
		want += s.want[seq%cfg.Rooms]
	}
	deadline := time.Now().Add(cfg.Timeout)
	for s.delivers.Load() < want {
		if time.Now().After(deadline) || s.r.ctx.Err() != nil {
			return fmt.Errorf("bench: rooms: %d of this generator's %d deliveries within %v of the last send", s.delivers.Load(), want, cfg.Timeout)
		}
		s.r.sleep(5 * time.Millisecond)
	}
	return nil
}

// handleRooms runs the rooms commands: "join", "send", "drain:<n>".
func (s *share) handleRooms(op string) (shareReply, bool) {
	switch {
	case op == "join":
		j := s.join()
		return shareReply{Join: &j}, true
	case op == "send":
		n, err := s.sendRooms()
		rep := shareReply{Sent: n}
		if err != nil {
			rep.Err = err.Error()
		}
		return rep, true
	case strings.HasPrefix(op, "drain:"):
		n, err := strconv.Atoi(op[len("drain:"):])
		if err != nil {
			return shareReply{Err: "bench: bad drain command"}, true
		}
		if err := s.drainRooms(n); err != nil {
			return shareReply{Err: err.Error()}, true
		}
		return shareReply{}, true
	}
	return shareReply{}, false
}

// rooms runs the rooms scenario's part after the connect storm.
func (r *runner) rooms(drivers []driver) error {
	cfg := r.cfg
	// Connections opened or joined within 2s still have their readers
	// (they park, returning their buffers, after 2s without data:
	// gateway/engineio): both memory readings wait until they are idle.
	idle := max(cfg.Hold, 3*time.Second)
	var mem1 []MemReport
	var err error
	if cfg.MemReport {
		r.sleep(idle)
		if mem1, err = r.memAll(); err != nil {
			return err
		}
	}
	j0 := r.mark(0)
	reps, err := callAll(drivers, "join")
	if err != nil {
		return err
	}
	j1 := r.mark(0)
	var jr joinReport
	for _, rep := range reps {
		if rep.Join == nil {
			continue
		}
		jr.Joined += rep.Join.Joined
		jr.Failed += rep.Join.Failed
		if jr.FirstEr == "" {
			jr.FirstEr = rep.Join.FirstEr
		}
		if jr.StartNs == 0 || rep.Join.StartNs < jr.StartNs {
			jr.StartNs = rep.Join.StartNs
		}
		jr.EndNs = max(jr.EndNs, rep.Join.EndNs)
	}
	r.res.Rooms, r.res.RoomSize = cfg.Rooms, cfg.RoomSize
	r.res.Memberships = jr.Joined
	r.res.JoinErrors = int64(jr.Failed)
	r.res.JoinSeconds = float64(jr.EndNs-jr.StartNs) / 1e9
	if jr.Joined > 0 {
		r.res.JoinCPUPerMembership = (j1.server.CPU - j0.server.CPU).Seconds() * 1e6 / float64(jr.Joined)
	}
	if jr.FirstEr != "" {
		r.fail(false, "joining rooms: %d of %d memberships failed, first: %s", jr.Failed, cfg.Rooms*cfg.RoomSize, jr.FirstEr)
	}
	if cfg.MemReport {
		r.sleep(idle)
		mem2, err := r.memAll()
		if err != nil {
			return err
		}
		r.res.MemAfter = mem2
		var rss, heap int64
		for i := range mem2 {
			rss += mem2[i].RSS - mem1[i].RSS
			heap += (mem2[i].Heap + mem2[i].HeapFree) - (mem1[i].Heap + mem1[i].HeapFree)
		}
		r.res.RSSPerRoom = float64(rss) / float64(cfg.Rooms)
		r.res.HeapPerRoom = float64(heap) / float64(cfg.Rooms)
	}

	f0 := r.mark(0)
	rep, err := drivers[0].call("send")
	if err == nil && rep.Err != "" {
		err = errors.New(rep.Err)
	}
	if err != nil {
		return err
	}
	f1 := r.mark(0)
	if d := f1.wall.Sub(f0.wall).Seconds(); d > 0 {
		r.res.SendRate = float64(rep.Sent) / d
	}
	if _, err := callAll(drivers, "drain:"+strconv.Itoa(rep.Sent)); err != nil {
		r.fail(false, "%v", err)
	}
	f2 := r.mark(0)
	r.res.ServerCPU = (f2.server.CPU - f0.server.CPU).Seconds()
	r.res.Seconds = f2.wall.Sub(f0.wall).Seconds()
	if r.res.Seconds > 0 {
		r.res.ServerUtil = r.res.ServerCPU / r.res.Seconds
		r.res.GenUtil = (f2.gen - f0.gen).Seconds() / r.res.Seconds
		other := (f2.system - f0.system) - (f2.server.CPU - f0.server.CPU) - (f2.gen - f0.gen)
		r.res.OtherUtil = max(other.Seconds()/r.res.Seconds, 0)
	}
	if rep.Sent > 0 {
		r.res.ServerCPUPerOp = r.res.ServerCPU * 1e6 / float64(rep.Sent)
	}
	return nil
}

// mergeRooms checks every room broadcast against its room's members
// (summed over the shares' Want) and fills the fan-out figures.
func (r *runner) mergeRooms(reps []shareReply, last, got, sent []int64) {
	cfg := r.cfg
	want := make([]int64, cfg.Rooms)
	for _, rr := range reps {
		if rr.Report == nil {
			continue
		}
		for i, w := range rr.Report.Want {
			if i < len(want) {
				want[i] += w
			}
		}
	}
	n := min(len(got), len(sent))
	last, got = last[:n], got[:n]
	r.res.Broadcasts = n
	r.res.Ops = int64(n)
	if r.res.Seconds > 0 {
		r.res.OpsPerSec = float64(n) / r.res.Seconds
	}
	var missing, first int64
	firstSeq := -1
	for i := range got {
		if m := want[i%cfg.Rooms] - got[i]; m > 0 {
			missing += m
			if firstSeq < 0 {
				firstSeq, first = i, m
			}
		}
	}
	r.res.Missing = missing
	if missing > 0 {
		r.fail(false, "%d room deliveries missing (first: broadcast %d to %s, %d of %d)", missing, firstSeq, roomName(firstSeq%cfg.Rooms), first, want[firstSeq%cfg.Rooms])
	}
	r.res.FanoutP50Micros = float64(quantileNs(last, 0.5)) / 1e3
	r.res.FanoutP99Micros = float64(quantileNs(last, 0.99)) / 1e3
	r.res.FanoutMaxMicros = float64(quantileNs(last, 1)) / 1e3
}
