package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// pollingFloor is the floor of HTTP long-polling: net/http answering the
// benchmark's polling contract by rewriting bytes, with no Engine.IO or
// Socket.IO implementation (one queue and one wake-up channel per session,
// no heartbeat, no upgrade, no cleanup). What it costs is what net/http
// and the kernel cost for the same requests, which a server built on
// net/http cannot go below.
type pollingFloor struct {
	f *Floor

	mu       sync.Mutex
	sessions map[string]*floorSession
}

type floorSession struct {
	nsSID string // the socket id of its namespace connection

	mu   sync.Mutex
	out  [][]byte // records waiting for a GET
	wake chan struct{}
}

const floorRecordSep = 0x1e

func (p *pollingFloor) serve(w http.ResponseWriter, r *http.Request) {
	sid := r.URL.Query().Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			http.Error(w, "handshake is a GET", http.StatusBadRequest)
			return
		}
		sid = "floor" + strconv.FormatUint(p.f.nextID.Add(1), 36)
		p.mu.Lock()
		p.sessions[sid] = &floorSession{nsSID: "s" + sid, wake: make(chan struct{}, 1)}
		p.mu.Unlock()
		_, _ = io.WriteString(w, `0{"sid":"`+sid+`","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
		return
	}
	p.mu.Lock()
	s := p.sessions[sid]
	p.mu.Unlock()
	if s == nil {
		http.Error(w, "unknown sid", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		for _, rec := range bytes.Split(body, []byte{floorRecordSep}) {
			s.answer(rec)
		}
		_, _ = io.WriteString(w, "ok")
	case http.MethodGet:
		s.poll(r.Context(), w)
	default:
		http.Error(w, "GET or POST", http.StatusBadRequest)
	}
}

// answer queues the answer to one received record, if it has one.
func (s *floorSession) answer(rec []byte) {
	var out []byte
	switch {
	case bytes.Equal(rec, []byte("40")):
		out = []byte(`40{"sid":"` + s.nsSID + `"}`)
	case bytes.HasPrefix(rec, []byte("42")):
		// 42<id>["echo",REST -> 43<id>[REST; rec is the request body's
		// own memory, which net/http does not reuse.
		out = rewriteAck(rec, 2, echoPrefix, '3')
	default:
		return // a pong, or anything the contract leaves unanswered
	}
	s.mu.Lock()
	s.out = append(s.out, out)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// poll answers a GET with the waiting records, waiting for one if needed.
func (s *floorSession) poll(ctx context.Context, w http.ResponseWriter) {
	for {
		s.mu.Lock()
		out := s.out
		s.out = nil
		s.mu.Unlock()
		if len(out) > 0 {
			_, _ = w.Write(bytes.Join(out, []byte{floorRecordSep}))
			return
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}
