package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// pollShare is the long-polling side of a share (scenario poll-hold):
// clients that each keep one GET pending and answer the server's pings
// with a POST, as an idle Engine.IO polling client does.
type pollShare struct {
	clients    []*pollingClient
	transports []*http.Transport
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// connectPolling opens the share's long-polling clients (handshake and
// namespace CONNECT), at most Concurrency at once, then starts each one's
// poll loop.
func (s *share) connectPolling() stormReport {
	cfg := s.r.cfg
	ctx, cancel := context.WithCancel(s.r.ctx)
	ps := &pollShare{cancel: cancel}
	s.poll = ps
	ips := max(cfg.SourceIPs, 1)
	for i := range ips {
		d := sourceDialer(sourceIP(s.spec.First+i, cfg.SourceIPs), cfg.Timeout)
		ps.transports = append(ps.transports, &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConns:        2 * s.spec.Count,
			MaxIdleConnsPerHost: 2 * s.spec.Count,
			IdleConnTimeout:     2 * time.Minute,
			DisableCompression:  true,
		})
	}
	ps.clients = make([]*pollingClient, s.spec.Count)
	rep := s.storm(ctx, 0, func(i int) error {
		g := s.spec.First + i
		// No client timeout: a long poll lasts a heartbeat; the context
		// ends it.
		p := &pollingClient{r: s.r, ctx: ctx, hc: &http.Client{Transport: ps.transports[i%len(ps.transports)]}}
		if err := p.open(cfg.Addrs[g%len(cfg.Addrs)]); err != nil {
			return err
		}
		ps.clients[i] = p
		return nil
	})
	for _, p := range ps.clients {
		if p == nil {
			continue
		}
		rep.Connected++
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			p.idle(ctx)
		}()
	}
	s.nlive.Store(int64(rep.Connected))
	return rep
}

// idle long-polls until ctx ends, answering pings.
func (p *pollingClient) idle(ctx context.Context) {
	for ctx.Err() == nil {
		recs, err := p.get()
		if err != nil {
			if ctx.Err() == nil && !p.r.stopping.Load() {
				p.r.fail(false, "long poll: %v", err)
			}
			return
		}
		for _, rec := range recs {
			switch {
			case len(rec) == 1 && rec[0] == '2':
				p.r.pings.Add(1)
				if err := p.post([]byte("3")); err != nil {
					if ctx.Err() == nil {
						p.r.fail(false, "pong: %v", err)
					}
					return
				}
			case len(rec) == 1 && rec[0] == '6':
			case len(rec) == 1 && rec[0] == '1':
				if !p.r.stopping.Load() {
					p.r.fail(false, "the server closed a polling session")
				}
				return
			default:
				p.r.fail(true, "unexpected packet %.80q", rec)
			}
		}
	}
}

// close ends the poll loops and the share's HTTP connections.
func (ps *pollShare) close() {
	ps.cancel()
	ps.wg.Wait()
	for _, t := range ps.transports {
		t.CloseIdleConnections()
	}
}

// newRequest builds a request bound to the client's context, if any.
func (p *pollingClient) newRequest(method string, body []byte) (*http.Request, error) {
	ctx := p.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url, rd)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	return req, nil
}
