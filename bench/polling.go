package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogate/siogate/protocol/engineio"
)

// pollingClient is one raw Engine.IO v4 HTTP long-polling client.
type pollingClient struct {
	r    *runner
	ctx  context.Context // ends its requests (nil: never)
	hc   *http.Client
	url  string // with the sid once open
	body []byte // the request body, reused
}

// get long-polls once and returns the records of the payload.
func (p *pollingClient) get() ([][]byte, error) {
	req, err := p.newRequest(http.MethodGet, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET: %s: %.80q", resp.Status, b)
	}
	return bytes.Split(b, []byte{0x1e}), nil
}

// post sends one payload.
func (p *pollingClient) post(body []byte) error {
	req, err := p.newRequest(http.MethodPost, body)
	if err != nil {
		return err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST: %s", resp.Status)
	}
	return nil
}

// open does the polling handshake and joins the main namespace.
func (p *pollingClient) open(addr string) error {
	p.url = "http://" + addr + p.r.cfg.Path + "?EIO=4&transport=polling"
	recs, err := p.get()
	if err != nil {
		return err
	}
	if len(recs) == 0 || len(recs[0]) == 0 || recs[0][0] != '0' {
		return fmt.Errorf("bench: bad polling handshake %.80q", recs)
	}
	h, err := engineio.ParseOpen(recs[0][1:])
	if err != nil {
		return err
	}
	p.url += "&sid=" + h.SID
	if err := p.post([]byte("40")); err != nil {
		return err
	}
	for range 10 {
		recs, err := p.get()
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if bytes.HasPrefix(rec, []byte("40")) {
				return nil
			}
		}
	}
	return errors.New("bench: no CONNECT answer over polling")
}

// echo sends one event with an ack and polls until the ack comes.
func (p *pollingClient) echo(id uint64, payload []byte) error {
	p.body = append(p.body[:0], "42"...)
	p.body = strconv.AppendUint(p.body, id, 10)
	p.body = append(p.body, `["echo",`...)
	p.body = append(p.body, payload...)
	p.body = append(p.body, ']')
	if err := p.post(p.body); err != nil {
		return err
	}
	for range 100 {
		recs, err := p.get()
		if err != nil {
			return err
		}
		for _, rec := range recs {
			switch {
			case bytes.HasPrefix(rec, ackHead):
				got, rest, ok := ackID(rec[2:])
				if !ok || got != id || len(rest) != len(payload)+2 || !bytes.Equal(rest[1:len(rest)-1], payload) {
					p.r.fail(true, "unexpected ack %.80q", rec)
					return errors.New("bad ack")
				}
				return nil
			case len(rec) == 1 && rec[0] == '2':
				if err := p.post([]byte("3")); err != nil {
					return err
				}
			case len(rec) == 1 && rec[0] == '6':
			default:
				p.r.fail(true, "unexpected packet %.80q", rec)
			}
		}
	}
	return errors.New("bench: no ack over 100 polls")
}

// pollingEcho runs the closed-loop echo over HTTP long-polling.
func (r *runner) pollingEcho() error {
	n := r.cfg.Clients
	hc := &http.Client{
		Timeout: r.cfg.Timeout,
		Transport: &http.Transport{
			MaxIdleConns:        4 * n,
			MaxIdleConnsPerHost: 4 * n,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
	defer hc.CloseIdleConnections()
	payload := echoPayload(r.cfg.Payload)
	clients := make([]*pollingClient, n)
	for i := range clients {
		clients[i] = &pollingClient{r: r, hc: hc}
		if err := clients[i].open(r.cfg.Addrs[i%len(r.cfg.Addrs)]); err != nil {
			return fmt.Errorf("bench: polling client %d: %w", i, err)
		}
	}
	var ops atomic.Int64
	var wg sync.WaitGroup
	for _, p := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := uint64(1); !r.stopping.Load() && r.ctx.Err() == nil; id++ {
				start := time.Now()
				if err := p.echo(id, payload); err != nil {
					if !r.stopping.Load() {
						r.fail(false, "polling echo: %v", err)
					}
					return
				}
				if r.measuring.Load() {
					r.hist.record(time.Since(start))
					ops.Add(1)
				}
			}
		}()
	}
	a, b := r.measure(ops.Load)
	wg.Wait()
	r.finish(a, b)
	// Close the sessions politely so the server frees them.
	for _, p := range clients {
		_ = p.post([]byte("1"))
	}
	if r.res.Ops == 0 {
		return errors.New("bench: no operation completed")
	}
	return nil
}
