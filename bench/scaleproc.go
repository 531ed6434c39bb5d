package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// A scale run is coordinated by one process (the parent, which reads the
// servers' CPU and memory) and carried by shares: the parent's own when
// Config.Procs is 0, or child processes (the same executable, started
// with ShareEnv set) that each hold their part of the connections. The
// parent speaks to a child in JSON lines on its stdin and stdout: first a
// shareSpec, then one command per line ("connect", "fanout", "reconnect",
// "report", "close"), each answered by one shareReply line.

// ShareEnv is the environment variable that makes a process started by a
// scale run serve as one of its generator shares (see ShareMain).
const ShareEnv = "SIOBENCH_SHARE"

// IsShareChild reports whether this process was started as a generator
// share of a scale run; its main function should then return ShareMain().
func IsShareChild() bool { return os.Getenv(ShareEnv) == "1" }

// shareReply answers one command.
type shareReply struct {
	Err    string       `json:"err,omitempty"`
	Storm  *stormReport `json:"storm,omitempty"`
	Report *shareReport `json:"report,omitempty"`
	Join   *joinReport  `json:"join,omitempty"`
	Sent   int          `json:"sent,omitempty"`
}

// handle runs one command on s.
func (s *share) handle(op string) shareReply {
	if rep, ok := s.handleRooms(op); ok {
		return rep
	}
	switch op {
	case "connect":
		st := s.connect()
		return shareReply{Storm: &st}
	case "fanout":
		if err := s.fanout(); err != nil {
			return shareReply{Err: err.Error()}
		}
		return shareReply{}
	case "reconnect":
		t := time.Now().UnixNano()
		s.drop()
		st := s.connect()
		st.StartNs = t
		return shareReply{Storm: &st}
	case "report":
		rep := s.report()
		return shareReply{Report: &rep}
	case "close":
		s.close()
		return shareReply{}
	}
	return shareReply{Err: fmt.Sprintf("bench: unknown share command %q", op)}
}

// ShareMain serves one generator share of a scale run on stdin and
// stdout, for a process started by Run (IsShareChild). It returns the
// process's exit code.
func ShareMain() int {
	// Hold as many connections as the hard limit allows.
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	in := bufio.NewReader(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	line, err := in.ReadBytes('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "siobench share: no spec:", err)
		return 2
	}
	var spec shareSpec
	if err := json.Unmarshal(line, &spec); err != nil {
		fmt.Fprintln(os.Stderr, "siobench share: bad spec:", err)
		return 2
	}
	if err := spec.Cfg.defaults(); err != nil {
		fmt.Fprintln(os.Stderr, "siobench share:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), runLimit(spec.Cfg))
	defer cancel()
	r := &runner{cfg: spec.Cfg, ctx: ctx}
	s := newShare(r, spec)
	defer s.close()
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return 0 // the parent is gone: close and leave
		}
		var op string
		if err := json.Unmarshal(line, &op); err != nil {
			fmt.Fprintln(os.Stderr, "siobench share: bad command:", err)
			return 2
		}
		if err := out.Encode(s.handle(op)); err != nil {
			return 1
		}
		if op == "close" {
			return 0
		}
	}
}

// driver is the parent's handle on one share.
type driver interface {
	call(op string) (shareReply, error)
	close()
}

// localDriver runs a share in the parent.
type localDriver struct{ s *share }

func (d localDriver) call(op string) (shareReply, error) { return d.s.handle(op), nil }
func (d localDriver) close()                             { d.s.close() }

// procDriver runs a share in a child process.
type procDriver struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	enc  *json.Encoder
	done chan struct{}
}

func startShare(ctx context.Context, exe string, spec shareSpec) (*procDriver, error) {
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), ShareEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting generator process %s: %w", exe, err)
	}
	d := &procDriver{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16), enc: json.NewEncoder(in), done: make(chan struct{})}
	if err := d.enc.Encode(spec); err != nil {
		d.close()
		return nil, fmt.Errorf("bench: generator process: %w", err)
	}
	return d, nil
}

func (d *procDriver) call(op string) (shareReply, error) {
	var rep shareReply
	if err := d.enc.Encode(op); err != nil {
		return rep, fmt.Errorf("bench: generator process %d: %w", d.cmd.Process.Pid, err)
	}
	line, err := d.out.ReadBytes('\n')
	if err != nil {
		return rep, fmt.Errorf("bench: generator process %d ended: %w (its stderr says why)", d.cmd.Process.Pid, err)
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		return rep, fmt.Errorf("bench: generator process %d: %w", d.cmd.Process.Pid, err)
	}
	return rep, nil
}

func (d *procDriver) close() {
	_ = d.in.Close() // EOF: the child closes its connections and exits
	waited := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-waited
	}
}

// callAll sends op to every share at once and returns their replies.
func callAll(drivers []driver, op string) ([]shareReply, error) {
	reps := make([]shareReply, len(drivers))
	errs := make([]error, len(drivers))
	var wg sync.WaitGroup
	for i, d := range drivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = d.call(op)
			if errs[i] == nil && reps[i].Err != "" {
				errs[i] = errors.New(reps[i].Err)
			}
		}()
	}
	wg.Wait()
	return reps, errors.Join(errs...)
}

// plan splits the run's clients over its shares.
func plan(cfg Config) ([]shareSpec, error) {
	procs := max(cfg.Procs, 1)
	per := (cfg.Clients + procs - 1) / procs
	if per > MaxClientsPerProc {
		return nil, fmt.Errorf("bench: %d clients in %d generator process(es) is %d per process, above %d (one file descriptor each, 20,000 per process): raise -procs", cfg.Clients, procs, per, MaxClientsPerProc)
	}
	var specs []shareSpec
	for i, first := 0, 0; first < cfg.Clients; i++ {
		n := min(per, cfg.Clients-first)
		specs = append(specs, shareSpec{Cfg: cfg, Index: i, First: first, Count: n, Sender: i == 0})
		first += n
	}
	return specs, nil
}

// startShares starts the run's shares: in this process when cfg.Procs is
// 0, else one child process each.
func (r *runner) startShares() ([]driver, error) {
	specs, err := plan(r.cfg)
	if err != nil {
		return nil, err
	}
	if r.cfg.Procs == 0 {
		return []driver{localDriver{newShare(r, specs[0])}}, nil
	}
	exe := r.cfg.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	var drivers []driver
	for _, spec := range specs {
		d, err := startShare(r.ctx, exe, spec)
		if err != nil {
			for _, d := range drivers {
				d.close()
			}
			return nil, err
		}
		drivers = append(drivers, d)
		r.genPIDs = append(r.genPIDs, d.cmd.Process.Pid)
	}
	return drivers, nil
}
