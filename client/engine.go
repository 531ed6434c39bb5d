package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/protocol/engineio"
)

// maxResponseBytes bounds one long-polling response body.
const maxResponseBytes = 64 << 20

// defaultMaxPayload is used when the server's handshake does not say.
const defaultMaxPayload = 1_000_000

// engineConfig is what an Engine.IO connection needs from the Options.
type engineConfig struct {
	base           *url.URL // http or https, with the Engine.IO path and the caller's query
	transports     []string
	header         http.Header
	httpClient     *http.Client
	tlsConfig      *tls.Config // for WebSocket dials; nil means defaults
	requestTimeout time.Duration
	log            *slog.Logger
	// proxy and proxyConnectHeader come from the HTTP client's
	// *http.Transport; WebSocket dials tunnel through the proxy it picks.
	proxy              func(*http.Request) (*url.URL, error)
	proxyConnectHeader http.Header
}

func (c *engineConfig) url(scheme, transport, sid string) string {
	u := *c.base
	if scheme != "" {
		u.Scheme = scheme
	}
	q := u.Query()
	q.Set("EIO", strconv.Itoa(engineio.Protocol))
	q.Set("transport", transport)
	if sid != "" {
		q.Set("sid", sid)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *engineConfig) wsURL(sid string) string {
	scheme := "ws"
	if c.base.Scheme == "https" {
		scheme = "wss"
	}
	return c.url(scheme, engineio.WebSocket, sid)
}

// engineConn is one Engine.IO session: a handshake, then long-polling or
// WebSocket, with an optional upgrade from the former to the latter.
type engineConn struct {
	cfg       *engineConfig
	onMessage func(data []byte, binary bool) // called one at a time
	onClose   func(DisconnectReason, error)  // called once
	ctx       context.Context                // canceled on close
	cancel    context.CancelFunc
	hs        engineio.Handshake // set before the transport goroutines start
	opened    chan struct{}      // closed once hs is set (WebSocket-only open)
	closeDone chan struct{}      // closed once close has called onClose
	recvMu    sync.Mutex         // serializes deliver
	pollDone  chan struct{}      // closed when the poll loop ends
	wsMu      sync.Mutex         // keeps a group of WebSocket frames together
	postMu    sync.Mutex         // held while a POST is in flight

	mu        sync.Mutex // guards the fields below
	transport string     // engineio.Polling or engineio.WebSocket
	ws        *gws.Conn  // the live WebSocket, if any
	probe     *gws.Conn  // a WebSocket being probed for the upgrade
	queue     []engineio.Packet
	signal    chan struct{} // wakes the POST loop
	pausing   bool          // upgrade in progress: no new polls or POSTs
	closed    bool
	heartbeat *time.Timer
}

func newEngineConn(cfg *engineConfig, onMessage func([]byte, bool), onClose func(DisconnectReason, error)) *engineConn {
	ctx, cancel := context.WithCancel(context.Background())
	return &engineConn{
		cfg:       cfg,
		onMessage: onMessage,
		onClose:   onClose,
		ctx:       ctx,
		cancel:    cancel,
		opened:    make(chan struct{}),
		closeDone: make(chan struct{}),
		pollDone:  make(chan struct{}),
		signal:    make(chan struct{}, 1),
	}
}

// open performs the handshake on the first configured transport and starts
// the background goroutines. On error the connection is closed without
// calling onClose.
func (e *engineConn) open(ctx context.Context) error {
	var err error
	if e.cfg.transports[0] == engineio.WebSocket {
		err = e.openWebSocket(ctx)
	} else {
		err = e.openPolling(ctx)
	}
	if err != nil {
		e.mu.Lock()
		if !e.closed { // else a concurrent close owns closeDone
			e.closed = true
			close(e.closeDone)
		}
		ws := e.ws
		e.mu.Unlock()
		e.cancel()
		if ws != nil {
			_ = ws.NetConn().Close()
		}
		return err
	}
	return nil
}

func (e *engineConn) openPolling(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.requestTimeout)
	defer cancel()
	body, err := e.request(rctx, http.MethodGet, "", nil)
	if err != nil {
		return fmt.Errorf("client: engine.io handshake: %w", err)
	}
	var rest []engineio.Packet
	first := true
	err = engineio.DecodePayload(body, func(p engineio.Packet) error {
		if first {
			first = false
			if p.Type != engineio.Open {
				return fmt.Errorf("client: engine.io handshake: got %s packet, want open", p.Type)
			}
			hs, err := engineio.ParseOpen(p.Data)
			if err != nil {
				return err
			}
			e.hs = hs
			return nil
		}
		rest = append(rest, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("client: engine.io handshake: %w", err)
	}
	e.mu.Lock()
	e.transport = engineio.Polling
	e.mu.Unlock()
	close(e.opened)
	e.cfg.log.Debug("engine.io open", "sid", e.hs.SID, "transport", engineio.Polling)
	e.startHeartbeat()
	go e.pollLoop()
	go e.postLoop()
	for _, p := range rest {
		e.deliver(p)
	}
	if slices.Contains(e.cfg.transports, engineio.WebSocket) && slices.Contains(e.hs.Upgrades, engineio.WebSocket) {
		go e.upgrade()
	}
	return nil
}

func (e *engineConn) openWebSocket(ctx context.Context) error {
	close(e.pollDone) // no polling on this connection
	h := &wsHandler{e: e, live: true, fail: make(chan struct{})}
	ws, err := e.dial(ctx, "", h)
	if err != nil {
		return fmt.Errorf("client: websocket: %w", err)
	}
	e.mu.Lock()
	e.transport = engineio.WebSocket
	e.ws = ws
	e.mu.Unlock()
	t := time.NewTimer(e.cfg.requestTimeout)
	defer t.Stop()
	select {
	case <-e.opened:
	case <-h.fail:
		return errors.New("client: websocket closed before the engine.io handshake")
	case <-t.C:
		return errors.New("client: no engine.io handshake on the websocket")
	case <-ctx.Done():
		return ctx.Err()
	}
	e.cfg.log.Debug("engine.io open", "sid", e.hs.SID, "transport", engineio.WebSocket)
	e.startHeartbeat()
	return nil
}

// heartbeatTimeout is how long the server may stay silent before the
// connection is considered dead.
func (e *engineConn) heartbeatTimeout() time.Duration {
	return e.hs.PingIntervalDuration() + e.hs.PingTimeoutDuration()
}

func (e *engineConn) startHeartbeat() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.heartbeat = time.AfterFunc(e.heartbeatTimeout(), func() {
		e.close(ReasonPingTimeout, errors.New("no ping from the server in time"), false)
	})
}

func (e *engineConn) resetHeartbeat() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.heartbeat != nil && !e.closed {
		e.heartbeat.Reset(e.heartbeatTimeout())
	}
}

// deliver handles one packet from the server.
func (e *engineConn) deliver(p engineio.Packet) {
	e.recvMu.Lock()
	defer e.recvMu.Unlock()
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return
	}
	switch p.Type {
	case engineio.Open:
		select {
		case <-e.opened:
			e.close(ReasonParseError, errors.New("second open packet"), false)
		default:
			hs, err := engineio.ParseOpen(p.Data)
			if err != nil {
				e.close(ReasonParseError, err, false)
				return
			}
			e.hs = hs
			close(e.opened)
		}
	case engineio.Ping:
		e.resetHeartbeat()
		_ = e.send(engineio.Packet{Type: engineio.Pong, Data: p.Data})
	case engineio.Message:
		e.onMessage(p.Data, p.Binary)
	case engineio.Close:
		e.close(ReasonTransportClose, errors.New("server sent close"), false)
	case engineio.Noop, engineio.Pong, engineio.Upgrade:
	default:
		e.close(ReasonParseError, fmt.Errorf("unexpected %s packet", p.Type), false)
	}
}

// send queues or writes packets, keeping them together and in order.
func (e *engineConn) send(pkts ...engineio.Packet) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrNotConnected
	}
	if e.transport == engineio.WebSocket && !e.pausing {
		ws := e.ws
		e.wsMu.Lock()
		e.mu.Unlock()
		defer e.wsMu.Unlock()
		return writeWS(ws, pkts)
	}
	e.queue = append(e.queue, pkts...)
	e.mu.Unlock()
	select {
	case e.signal <- struct{}{}:
	default:
	}
	return nil
}

func writeWS(ws *gws.Conn, pkts []engineio.Packet) error {
	for _, p := range pkts {
		var err error
		if p.Binary {
			err = ws.WriteMessage(gws.OpcodeBinary, p.Data)
		} else {
			err = ws.WriteMessage(gws.OpcodeText, engineio.AppendText(nil, p.Type, p.Data))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// transportName returns the transport in use.
func (e *engineConn) transportName() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.transport
}

// close ends the session once. graceful sends the close packet first
// (a client-initiated disconnect), flushing packets still queued. When
// another goroutine is closing it, close waits until that one has called
// onClose, so that on return the disconnect handlers are queued.
func (e *engineConn) close(reason DisconnectReason, cause error, graceful bool) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.closeDone
		return
	}
	e.closed = true
	ws, probe, transport := e.ws, e.probe, e.transport
	queue := e.queue
	e.queue = nil
	if e.heartbeat != nil {
		e.heartbeat.Stop()
	}
	e.mu.Unlock()
	if graceful {
		closePkt := engineio.Packet{Type: engineio.Close}
		if transport == engineio.WebSocket && ws != nil {
			e.wsMu.Lock()
			_ = writeWS(ws, append(queue, closePkt))
			e.wsMu.Unlock()
			_ = ws.WriteClose(1000, nil)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), e.cfg.requestTimeout)
			e.postMu.Lock()
			_, _ = e.request(ctx, http.MethodPost, e.hs.SID, e.payload(append(queue, closePkt)))
			e.postMu.Unlock()
			cancel()
		}
	}
	e.cancel()
	if ws != nil {
		_ = ws.NetConn().Close()
	}
	if probe != nil {
		_ = probe.NetConn().Close()
	}
	e.cfg.log.Debug("engine.io closed", "sid", e.hs.SID, "reason", string(reason), "cause", cause)
	defer close(e.closeDone)
	e.onClose(reason, cause)
}

func (e *engineConn) payload(pkts []engineio.Packet) []byte {
	return engineio.AppendPayload(nil, pkts)
}

// request performs one long-polling HTTP request and returns the body of a
// 200 response.
func (e *engineConn) request(ctx context.Context, method, sid string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.cfg.url("", engineio.Polling, sid), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range e.cfg.header {
		req.Header[k] = slices.Clone(v)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := e.cfg.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		if len(data) > 200 {
			data = data[:200]
		}
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if len(data) > maxResponseBytes {
		return nil, errors.New("long-polling response too large")
	}
	return data, nil
}

// pollLoop keeps one GET pending until the connection closes or the
// upgrade pauses polling.
func (e *engineConn) pollLoop() {
	defer close(e.pollDone)
	for {
		e.mu.Lock()
		stop := e.closed || e.pausing || e.transport != engineio.Polling
		e.mu.Unlock()
		if stop {
			return
		}
		body, err := e.request(e.ctx, http.MethodGet, e.hs.SID, nil)
		if err != nil {
			if e.ctx.Err() == nil {
				e.close(ReasonTransportError, err, false)
			}
			return
		}
		err = engineio.DecodePayload(body, func(p engineio.Packet) error {
			e.deliver(p)
			return nil
		})
		if err != nil {
			e.close(ReasonParseError, err, false)
			return
		}
	}
}

// postLoop sends queued packets in POSTs no larger than the server's
// maxPayload, one POST at a time.
func (e *engineConn) postLoop() {
	max := int(e.hs.MaxPayload)
	if max <= 0 {
		max = defaultMaxPayload
	}
	for {
		select {
		case <-e.signal:
		case <-e.ctx.Done():
			return
		}
		for {
			e.mu.Lock()
			if e.closed || e.transport != engineio.Polling {
				e.mu.Unlock()
				return
			}
			if e.pausing || len(e.queue) == 0 {
				e.mu.Unlock()
				break
			}
			n, size := 0, 0
			for n < len(e.queue) {
				l := engineio.RecordLen(e.queue[n])
				if n > 0 {
					l++ // separator
				}
				if n > 0 && size+l > max {
					break
				}
				size += l
				n++
			}
			batch := slices.Clone(e.queue[:n])
			e.queue = slices.Delete(e.queue, 0, n)
			e.postMu.Lock() // taken under mu so that a pausing upgrade waits for it
			e.mu.Unlock()
			ctx, cancel := context.WithTimeout(e.ctx, e.cfg.requestTimeout)
			_, err := e.request(ctx, http.MethodPost, e.hs.SID, e.payload(batch))
			cancel()
			e.postMu.Unlock()
			if err != nil {
				if e.ctx.Err() == nil {
					e.close(ReasonTransportError, err, false)
				}
				return
			}
		}
	}
}

// upgrade probes a WebSocket and, when the server answers, pauses polling
// and switches to it. A failed probe leaves the connection on polling.
func (e *engineConn) upgrade() {
	h := &wsHandler{e: e, probe: make(chan []byte, 1), fail: make(chan struct{})}
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.requestTimeout)
	defer cancel()
	ws, err := e.dial(ctx, e.hs.SID, h)
	if err != nil {
		e.cfg.log.Debug("websocket upgrade failed", "err", err)
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = ws.NetConn().Close()
		return
	}
	e.probe = ws
	e.mu.Unlock()
	abandon := func(why string) {
		e.cfg.log.Debug("websocket upgrade failed", "err", why)
		e.mu.Lock()
		e.probe = nil
		e.mu.Unlock()
		_ = ws.NetConn().Close()
	}
	if err := ws.WriteMessage(gws.OpcodeText, []byte("2probe")); err != nil {
		abandon(err.Error())
		return
	}
	select {
	case msg := <-h.probe:
		if string(msg) != "3probe" {
			abandon("unexpected probe answer " + strconv.Quote(string(msg)))
			return
		}
	case <-h.fail:
		abandon("websocket closed during probe")
		return
	case <-ctx.Done():
		abandon("no probe answer")
		return
	}

	// Pause polling: no new POSTs or GETs, and wait for those in flight.
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.pausing = true
	e.mu.Unlock()
	e.postMu.Lock()
	e.postMu.Unlock() //nolint:staticcheck // waits for the POST in flight
	select {
	case <-e.pollDone:
	case <-e.ctx.Done():
		return
	}

	h.setLive()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.wsMu.Lock()
	queue := e.queue
	e.queue = nil
	e.transport = engineio.WebSocket
	e.ws, e.probe = ws, nil
	e.pausing = false
	e.mu.Unlock()
	err = writeWS(ws, append([]engineio.Packet{{Type: engineio.Upgrade}}, queue...))
	e.wsMu.Unlock()
	if err != nil {
		e.close(ReasonTransportError, err, false)
		return
	}
	e.cfg.log.Debug("engine.io upgraded", "sid", e.hs.SID, "transport", engineio.WebSocket)
	select {
	case <-h.fail: // closed between setLive and the switch
		e.close(ReasonTransportClose, errors.New("websocket closed"), false)
	default:
	}
}

// dial opens a WebSocket for the session sid (empty for a new session).
func (e *engineConn) dial(ctx context.Context, sid string, h *wsHandler) (*gws.Conn, error) {
	header := http.Header{}
	for k, v := range e.cfg.header {
		header[k] = slices.Clone(v)
	}
	var tlsConf *tls.Config
	if e.cfg.tlsConfig != nil {
		tlsConf = e.cfg.tlsConfig.Clone()
	}
	timeout := e.cfg.requestTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	ws, resp, err := gws.NewClient(h, &gws.ClientOption{
		Addr:             e.cfg.wsURL(sid),
		RequestHeader:    header,
		TlsConfig:        tlsConf,
		HandshakeTimeout: timeout,
		NewDialer: func() (gws.Dialer, error) {
			d := ctxDialer{ctx: ctx, d: &net.Dialer{Timeout: timeout}}
			return e.cfg.wsDialer(d, timeout)
		},
	})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	_ = ws.SetDeadline(time.Time{})
	go ws.ReadLoop()
	return ws, nil
}

// ctxDialer adapts net.Dialer to gws.Dialer, honoring a context.
type ctxDialer struct {
	ctx context.Context
	d   *net.Dialer
}

func (c ctxDialer) Dial(network, addr string) (net.Conn, error) {
	return c.d.DialContext(c.ctx, network, addr)
}

// wsHandler receives one WebSocket's events. Until live, messages are
// upgrade probe answers.
type wsHandler struct {
	e     *engineConn
	probe chan []byte
	fail  chan struct{}

	mu       sync.Mutex
	live     bool
	failOnce sync.Once
}

func (h *wsHandler) setLive() {
	h.mu.Lock()
	h.live = true
	h.mu.Unlock()
}

func (h *wsHandler) isLive() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live
}

func (h *wsHandler) OnOpen(*gws.Conn) {}

func (h *wsHandler) OnClose(_ *gws.Conn, err error) {
	h.failOnce.Do(func() { close(h.fail) })
	if h.isLive() {
		h.e.close(ReasonTransportClose, err, false)
	}
}

func (h *wsHandler) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (h *wsHandler) OnPong(*gws.Conn, []byte) {}

func (h *wsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	data := bytes.Clone(m.Bytes())
	binary := m.Opcode == gws.OpcodeBinary
	_ = m.Close()
	if !h.isLive() {
		select {
		case h.probe <- data:
		default:
		}
		return
	}
	p, err := engineio.DecodeFrame(data, binary)
	if err != nil {
		h.e.close(ReasonParseError, err, false)
		return
	}
	h.e.deliver(p)
}
