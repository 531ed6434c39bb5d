package bench

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// scale runs the hold, fanout and reconnect scenarios: every share opens
// its connections at once (the connect storm), then
//
//   - hold keeps them idle for cfg.Hold, the clients answering the
//     server's heartbeats, and reads the servers' CPU over the hold and
//     their memory after it (with cfg.MemReport, after a forced GC, split
//     into heap, stacks and the rest);
//   - fanout has the first client ask for cfg.N broadcasts one at a time
//     and reports, per broadcast, when the last client got it;
//   - reconnect drops every connection at once and opens them again.
func (r *runner) scale() error {
	cfg := r.cfg
	drivers, err := r.startShares()
	if err != nil {
		return err
	}
	defer func() {
		for _, d := range drivers {
			d.close()
		}
	}()
	r.res.Procs = len(drivers)
	if cfg.Procs == 0 {
		r.res.Procs = 0
	}
	var mem0 []MemReport
	if cfg.MemReport {
		if mem0, err = r.memAll(); err != nil {
			return err
		}
		r.res.MemBefore = mem0
	}
	a := r.mark(0)
	storms, err := callAll(drivers, "connect")
	if err != nil {
		return err
	}
	st := mergeStorms(storms)
	b := r.mark(int64(st.Connected))
	r.finish(a, b)
	r.res.Connected = st.Connected
	r.res.StormErrors = int64(st.Failed)
	r.res.StormSeconds = float64(st.EndNs-st.StartNs) / 1e9
	r.res.ConnP50Micros, r.res.ConnP99Micros = quantilesMicros(st.Lat)
	if st.FirstErr != "" {
		r.fail(false, "connect storm: %d of %d failed, first: %s", st.Failed, cfg.Clients, st.FirstErr)
	}
	if st.Connected == 0 {
		return errors.New("bench: no connection opened")
	}
	conns := float64(st.Connected)

	switch cfg.Scenario {
	case "hold", "poll-hold":
		h0 := r.mark(0)
		r.sleep(cfg.Hold)
		h1 := r.mark(0)
		sec := h1.wall.Sub(h0.wall).Seconds()
		cpu := (h1.server.CPU - h0.server.CPU).Seconds()
		r.res.HoldSeconds = sec
		if sec > 0 {
			r.res.IdleUtil = cpu / sec
			r.res.IdleCPUPerConn = cpu * 1e6 / conns / sec
		}
		r.res.RSSPerConn = float64(h1.server.RSS-a.server.RSS) / conns
		if cfg.MemReport {
			mem1, err := r.memAll()
			if err != nil {
				return err
			}
			r.res.MemAfter = mem1
			d := func(f func(MemReport) int64) float64 {
				var sum int64
				for i := range mem1 {
					sum += f(mem1[i]) - f(mem0[i])
				}
				return float64(sum) / conns
			}
			r.res.RSSPerConn = d(func(m MemReport) int64 { return m.RSS })
			r.res.HeapPerConn = d(func(m MemReport) int64 { return m.Heap + m.HeapFree })
			r.res.StacksPerConn = d(func(m MemReport) int64 { return m.Stacks })
			r.res.OtherPerConn = d(func(m MemReport) int64 { return m.Other })
			r.res.GoroutinesPerConn = d(func(m MemReport) int64 { return m.Goroutines })
		}
	case "fanout":
		f0 := r.mark(0)
		if _, err := drivers[0].call("fanout"); err != nil {
			return err
		}
		// The other shares' last deliveries may trail the sender's own.
		r.sleep(cfg.Interval + 100*time.Millisecond)
		f1 := r.mark(0)
		r.res.ServerCPU = (f1.server.CPU - f0.server.CPU).Seconds()
		r.res.Seconds = f1.wall.Sub(f0.wall).Seconds()
		if r.res.Seconds > 0 {
			r.res.ServerUtil = r.res.ServerCPU / r.res.Seconds
			r.res.GenUtil = (f1.gen - f0.gen).Seconds() / r.res.Seconds
		}
	case "rooms":
		if err := r.rooms(drivers); err != nil {
			return err
		}
	case "reconnect":
		r0 := r.mark(0)
		storms, err := callAll(drivers, "reconnect")
		if err != nil {
			return err
		}
		st := mergeStorms(storms)
		r1 := r.mark(0)
		r.res.ReconnectSeconds = float64(st.EndNs-st.StartNs) / 1e9
		r.res.ReconnectErrors = int64(st.Failed)
		r.res.Reconnected = st.Connected
		r.res.ReconnP50Micros, r.res.ReconnP99Micros = quantilesMicros(st.Lat)
		r.res.ServerCPU = (r1.server.CPU - r0.server.CPU).Seconds()
		if st.Connected > 0 {
			r.res.ServerCPUPerOp = r.res.ServerCPU * 1e6 / float64(st.Connected)
		}
		if st.FirstErr != "" {
			r.fail(false, "reconnect storm: %d of %d failed, first: %s", st.Failed, st.Connected+st.Failed, st.FirstErr)
		}
	}

	reps, err := callAll(drivers, "report")
	if err != nil {
		return err
	}
	r.mergeReports(reps, st.Connected)
	return nil
}

// mergeStorms adds the shares' storm reports up: the storm runs from the
// first share's start to the last share's end.
func mergeStorms(storms []shareReply) stormReport {
	var m stormReport
	m.Lat = map[int]int64{}
	for _, s := range storms {
		if s.Storm == nil {
			continue
		}
		st := s.Storm
		m.Connected += st.Connected
		m.Failed += st.Failed
		if m.FirstErr == "" {
			m.FirstErr = st.FirstErr
		}
		if m.StartNs == 0 || st.StartNs < m.StartNs {
			m.StartNs = st.StartNs
		}
		m.EndNs = max(m.EndNs, st.EndNs)
		for k, v := range st.Lat {
			m.Lat[k] += v
		}
	}
	return m
}

// mergeReports adds the shares' final reports into the result.
func (r *runner) mergeReports(reps []shareReply, conns int) {
	var lat histogram
	var last, got []int64
	var sent []int64
	for _, rr := range reps {
		rep := rr.Report
		if rep == nil {
			continue
		}
		// The parent's own share (Procs 0) counted into r already.
		if r.cfg.Procs > 0 {
			r.errs.Add(rep.Errors)
			r.protoErrs.Add(rep.ProtocolErrors)
			if rep.FirstErr != "" {
				r.firstErr.CompareAndSwap(nil, rep.FirstErr)
			}
		}
		r.res.Pings += rep.Pings
		r.res.Deliveries += rep.Deliveries
		lat.merge(rep.Lat)
		if last == nil {
			last = make([]int64, len(rep.Last))
			got = make([]int64, len(rep.Got))
		}
		for i := range min(len(last), len(rep.Last)) {
			last[i] = max(last[i], rep.Last[i])
			got[i] += rep.Got[i]
		}
		if rep.Sent != nil {
			sent = rep.Sent
		}
	}
	if r.cfg.Scenario == "rooms" {
		r.mergeRooms(reps, last, got, sent)
		r.mergeDeliveries(&lat)
		return
	}
	if r.cfg.Scenario != "fanout" {
		return
	}
	// Only the broadcasts that were sent count.
	last, got = last[:min(len(last), len(sent))], got[:min(len(got), len(sent))]
	r.res.Broadcasts = len(sent)
	r.res.Ops = int64(len(sent))
	if r.res.Seconds > 0 {
		r.res.OpsPerSec = float64(r.res.Ops) / r.res.Seconds
	}
	for i := range got {
		if missing := int64(conns) - got[i]; missing > 0 {
			r.fail(false, "broadcast %d: %d of %d deliveries missing", i, missing, conns)
		}
		if i+1 < len(sent) && sent[i]+last[i] > sent[i+1] {
			r.res.Overlapped++
		}
	}
	r.res.FanoutP50Micros = float64(quantileNs(last, 0.5)) / 1e3
	r.res.FanoutP99Micros = float64(quantileNs(last, 0.99)) / 1e3
	r.res.FanoutMaxMicros = float64(quantileNs(last, 1)) / 1e3
	r.mergeDeliveries(&lat)
}

// mergeDeliveries fills the per-delivery figures of a broadcast run.
func (r *runner) mergeDeliveries(lat *histogram) {
	if q := lat.quantile(0.5); q > 0 {
		r.res.P50Micros = float64(q) / float64(time.Microsecond)
		r.res.P99Micros = float64(lat.quantile(0.99)) / float64(time.Microsecond)
	}
	if r.res.Seconds > 0 {
		r.res.DeliveriesSec = float64(r.res.Deliveries) / r.res.Seconds
	}
	if r.res.Deliveries > 0 {
		r.res.ServerCPUPerDelivery = r.res.ServerCPU * 1e6 / float64(r.res.Deliveries)
	}
}

// quantilesMicros returns the p50 and p99 of a histogram snapshot, µs.
func quantilesMicros(snap map[int]int64) (float64, float64) {
	var h histogram
	h.merge(snap)
	if h.count.Load() == 0 {
		return 0, 0
	}
	return float64(h.quantile(0.5)) / 1e3, float64(h.quantile(0.99)) / 1e3
}

// memAll fetches every server's memory report, one after the other.
func (r *runner) memAll() ([]MemReport, error) {
	var reps []MemReport
	for _, a := range r.cfg.Addrs {
		m, err := FetchMem(a, max(r.cfg.Timeout, 30*time.Second))
		if err != nil {
			return nil, err
		}
		reps = append(reps, m)
	}
	return reps, nil
}

// runLimit bounds a whole run: connecting, warm-up, measurement, hold,
// drain.
func runLimit(cfg Config) time.Duration {
	d := cfg.Warmup + cfg.Duration + cfg.Hold + 2*cfg.Timeout + time.Minute
	if isScale(cfg.Scenario) {
		// Two storms of up to Timeout per connection at the given rate.
		storm := 2 * cfg.Timeout
		if cfg.Rate > 0 {
			storm += time.Duration(float64(cfg.Clients) / cfg.Rate * float64(time.Second))
		}
		d += 2 * storm
	}
	if cfg.Scenario == "rooms" {
		// Joining (1ms per membership is generous) and the drain.
		d += cfg.Timeout + time.Duration(cfg.Rooms*cfg.RoomSize)*time.Millisecond
	}
	return min(d, time.Duration(math.MaxInt64/2))
}

// scaleSummary is the scale scenarios' part of Result.Summary.
func scaleSummary(r Result) string {
	s := fmt.Sprintf(", storm %.2fs (%d failed, connect p50 %.1fms p99 %.1fms)", r.StormSeconds, r.StormErrors, r.ConnP50Micros/1e3, r.ConnP99Micros/1e3)
	switch r.Scenario {
	case "hold", "poll-hold":
		s += fmt.Sprintf(", held %.1fs: %.1f KiB RSS/conn (heap %s, stacks %s, other %s), %.2f goroutines/conn, idle CPU %.2f µs/conn/s (util %.3f), %d pings answered",
			r.HoldSeconds, r.RSSPerConn/1024, kibString(r.HeapPerConn), kibString(r.StacksPerConn), kibString(r.OtherPerConn), r.GoroutinesPerConn, r.IdleCPUPerConn, r.IdleUtil, r.Pings)
	case "fanout":
		s += fmt.Sprintf(", %d broadcasts: all delivered p50 %.1fms p99 %.1fms max %.1fms (%d overlapped the next)", r.Broadcasts, r.FanoutP50Micros/1e3, r.FanoutP99Micros/1e3, r.FanoutMaxMicros/1e3, r.Overlapped)
	case "rooms":
		s += fmt.Sprintf(", %d rooms of %d: %d memberships joined in %.2fs (%d failed, %.1f µs CPU each), %s RSS / %s heap KiB per room; %d room broadcasts (%.0f/s sent): fan-out p50 %.1fms p99 %.1fms max %.1fms, %.1f µs CPU per room broadcast, %d deliveries missing",
			r.Rooms, r.RoomSize, r.Memberships, r.JoinSeconds, r.JoinErrors, r.JoinCPUPerMembership, kibString(r.RSSPerRoom), kibString(r.HeapPerRoom), r.Broadcasts, r.SendRate, r.FanoutP50Micros/1e3, r.FanoutP99Micros/1e3, r.FanoutMaxMicros/1e3, r.ServerCPUPerOp, r.Missing)
	case "reconnect":
		s += fmt.Sprintf(", reconnect storm %.2fs (%d reconnected, %d failed, p99 %.1fms)", r.ReconnectSeconds, r.Reconnected, r.ReconnectErrors, r.ReconnP99Micros/1e3)
	}
	return s
}
