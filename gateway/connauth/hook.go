package connauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/internal/ratelog"
)

// HookConfig configures a connect hook. Zero fields take the defaults
// given with them.
type HookConfig struct {
	// URL receives a POST of a HookRequest for each connect.
	URL string
	// Client makes the calls (default: a client whose transport keeps at
	// most MaxInFlight connections to the backend).
	Client *http.Client
	// Timeout bounds one call (default 3s). Keep it well under the
	// Engine.IO ping timeout: the client's connection waits meanwhile.
	Timeout time.Duration
	// MaxInFlight bounds the calls under way (default 64). A connect
	// beyond it waits for a call to end, at most Timeout, and is then
	// refused as if the backend were unavailable. While the breaker is
	// open, connects are answered at once, without waiting.
	MaxInFlight int
	// Headers names the handshake headers forwarded (default
	// DefaultHookHeaders).
	Headers []string
	// FailureThreshold consecutive failures (errors, timeouts, answers
	// other than 2xx JSON) open the circuit breaker (default 5).
	FailureThreshold int
	// CoolDown is how long the open breaker sends nothing to the backend
	// (default 10s); then one probe call decides.
	CoolDown time.Duration
	// FailOpen accepts, with no data or rooms, the connects the backend
	// cannot decide (breaker open, timeout, failure, too many in flight).
	// By default they are refused (fail closed).
	FailOpen bool
	// Logger receives backend failures, at most one line a second per
	// cause (nil discards them).
	Logger *slog.Logger
}

// DefaultHookHeaders returns the handshake headers a hook forwards by
// default.
func DefaultHookHeaders() []string {
	return []string{"Authorization", "Cookie", "Origin", "User-Agent", "X-Forwarded-For", "X-Real-Ip"}
}

func (c HookConfig) withDefaults() HookConfig {
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.Headers == nil {
		c.Headers = DefaultHookHeaders()
	}
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = 5
	}
	if c.CoolDown <= 0 {
		c.CoolDown = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxConnsPerHost:     c.MaxInFlight,
			MaxIdleConnsPerHost: c.MaxInFlight,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// HookRequest is the JSON body a hook POSTs for a connect.
type HookRequest struct {
	// Namespace the client asks to join, such as "/".
	Namespace string `json:"namespace"`
	// SID is the socket id the client gets if accepted.
	SID string `json:"sid"`
	// RemoteAddress is the peer address of the connection ("ip:port").
	RemoteAddress string `json:"remoteAddress"`
	// Transport is "polling" or "websocket".
	Transport string `json:"transport"`
	// Headers holds the forwarded handshake headers present (values of a
	// repeated header joined with ", ").
	Headers map[string]string `json:"headers"`
	// Query holds the handshake query parameters (the first value of each).
	Query map[string]string `json:"query"`
	// Auth is the client's CONNECT payload ({} when none).
	Auth json.RawMessage `json:"auth"`
}

// HookResponse is the JSON answer a hook expects (HTTP 2xx).
type HookResponse struct {
	// Allow accepts the connect.
	Allow bool `json:"allow"`
	// UserID, when accepting, is the user's id (socket data "userId").
	UserID string `json:"userId,omitempty"`
	// Data, when accepting, is a JSON object that becomes the socket
	// data; when refusing, any JSON value the client gets as err.data.
	Data json.RawMessage `json:"data,omitempty"`
	// Rooms, when accepting, are joined at once.
	Rooms []string `json:"rooms,omitempty"`
	// Message, when refusing, is the client's err.message (default
	// "unauthorized").
	Message string `json:"message,omitempty"`
}

// maxHookAnswer bounds a hook's answer.
const maxHookAnswer = 1 << 20

// Hook decides connects by asking a backend over HTTP. Its methods are
// safe for concurrent use.
type Hook struct {
	cfg      HookConfig
	slots    chan struct{} // one per call in flight
	breaker  breaker
	ctx      context.Context // ends at Close
	cancel   context.CancelFunc
	limiter  ratelog.Limiter[string]
	timedOut string // the timeout's refusal message
}

// NewHook checks the configuration. Close cancels the calls in flight.
func NewHook(cfg HookConfig) (*Hook, error) {
	cfg = cfg.withDefaults()
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("connauth: hook URL %q: want an http:// or https:// URL", cfg.URL)
	}
	h := &Hook{
		cfg:      cfg,
		slots:    make(chan struct{}, cfg.MaxInFlight),
		breaker:  breaker{threshold: cfg.FailureThreshold, coolDown: cfg.CoolDown, now: time.Now},
		timedOut: fmt.Sprintf("authentication unavailable: no answer within %v, retry later", cfg.Timeout),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h, nil
}

// Close cancels the calls in flight; later connects count as failures.
func (h *Hook) Close() { h.cancel() }

// State returns the circuit breaker's state.
func (h *Hook) State() BreakerState { return h.breaker.state() }

// Middleware returns a connect middleware that asks the backend about
// each connect: accepted clients get the answer's data and rooms, refused
// ones a CONNECT_ERROR with the answer's message and data. When the
// backend cannot decide, the refusal's data is {"code": "auth_busy",
// "auth_unavailable", "auth_timeout" or "auth_error"}.
func (h *Hook) Middleware() gateway.Middleware {
	return func(s *gateway.Socket) error {
		id, err := h.decide(s)
		if err != nil {
			return err
		}
		return id.apply(s)
	}
}

// decide asks the backend about s and returns the identity to give it,
// or the *gateway.ConnectError refusing it.
func (h *Hook) decide(s *gateway.Socket) (Identity, error) {
	if h.breaker.state() == BreakerOpen {
		return h.unavailable("auth_unavailable", "authentication unavailable, retry later")
	}
	if !h.acquire() {
		return h.unavailable("auth_busy", "authentication unavailable: too many connects waiting, retry later")
	}
	defer func() { <-h.slots }()
	if !h.breaker.allow() {
		return h.unavailable("auth_unavailable", "authentication unavailable, retry later")
	}
	ans, err := h.call(s)
	if h.breaker.report(err == nil) {
		if err != nil {
			h.cfg.Logger.Warn("connauth: connect hook circuit breaker open: connects are answered without calling the backend",
				"after_failures", h.cfg.FailureThreshold, "cool_down", h.cfg.CoolDown, "fail_open", h.cfg.FailOpen)
		} else {
			h.cfg.Logger.Info("connauth: connect hook circuit breaker closed: the backend answers again")
		}
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			h.logFailure("timeout", err)
			return h.unavailable("auth_timeout", h.timedOut)
		}
		h.logFailure("error", err)
		return h.unavailable("auth_error", "authentication unavailable: the authentication backend failed, retry later")
	}
	if !ans.Allow {
		msg := ans.Message
		if msg == "" {
			msg = "unauthorized"
		}
		ce := &gateway.ConnectError{Message: msg}
		if len(ans.Data) > 0 && !bytes.Equal(ans.Data, []byte("null")) {
			ce.Data = ans.Data
		}
		return Identity{}, ce
	}
	id := Identity{UserID: ans.UserID, Rooms: ans.Rooms}
	if len(ans.Data) > 0 {
		_ = json.Unmarshal(ans.Data, &id.Data) // checked in call
	}
	return id, nil
}

// acquire takes a call slot, waiting for one at most the call timeout
// (a burst of connects queues briefly instead of being refused; a
// socket.io client does not retry a refused connect by itself).
func (h *Hook) acquire() bool {
	select {
	case h.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(h.cfg.Timeout)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-h.ctx.Done():
		return false
	}
}

// unavailable applies the fail-open or fail-closed policy.
func (h *Hook) unavailable(code, msg string) (Identity, error) {
	if h.cfg.FailOpen {
		return Identity{}, nil
	}
	return Identity{}, refusal(code, "%s", msg)
}

func (h *Hook) logFailure(cause string, err error) {
	if ok, suppressed := h.limiter.Allow(cause, time.Now()); ok {
		h.cfg.Logger.Warn("connauth: connect hook failed", "cause", cause, "err", err, "suppressed", suppressed,
			"breaker", h.breaker.state().String())
	}
}

// call POSTs the request and reads a valid answer; any other outcome is
// an error.
func (h *Hook) call(s *gateway.Socket) (HookResponse, error) {
	body, err := json.Marshal(h.request(s))
	if err != nil {
		return HookResponse{}, fmt.Errorf("encoding the hook request: %w", err)
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return HookResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := h.cfg.Client.Do(req)
	if err != nil {
		return HookResponse{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxHookAnswer+1))
	if err != nil {
		return HookResponse{}, err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return HookResponse{}, fmt.Errorf("the hook answered HTTP %d", res.StatusCode)
	}
	if len(raw) > maxHookAnswer {
		return HookResponse{}, fmt.Errorf("the hook's answer is larger than %d bytes", maxHookAnswer)
	}
	var ans HookResponse
	if err := json.Unmarshal(raw, &ans); err != nil {
		return HookResponse{}, fmt.Errorf("the hook's answer is not the expected JSON: %w", err)
	}
	if ans.Allow && len(ans.Data) > 0 && !bytes.Equal(ans.Data, []byte("null")) {
		var obj map[string]any
		if err := json.Unmarshal(ans.Data, &obj); err != nil {
			return HookResponse{}, errors.New("the hook accepted with data that is not a JSON object")
		}
	}
	return ans, nil
}

// request describes s's handshake for the backend.
func (h *Hook) request(s *gateway.Socket) HookRequest {
	r := s.Request()
	out := HookRequest{
		Namespace: s.Namespace().Name(),
		SID:       s.ID(),
		Transport: s.Transport(),
		Headers:   map[string]string{},
		Query:     map[string]string{},
		Auth:      s.Auth(),
	}
	if r != nil {
		out.RemoteAddress = r.RemoteAddr
		for _, name := range h.cfg.Headers {
			if v := r.Header.Values(name); len(v) > 0 {
				out.Headers[http.CanonicalHeaderKey(name)] = strings.Join(v, ", ")
			}
		}
		if r.URL != nil {
			for k, v := range r.URL.Query() {
				out.Query[k] = v[0]
			}
		}
	}
	if len(out.Auth) == 0 {
		out.Auth = json.RawMessage("{}")
	}
	return out
}
