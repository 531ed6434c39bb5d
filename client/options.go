package client

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/siogate/siogate/protocol/socketio"
)

// Options configure a Client. The zero value is ready to use: polling
// first with an upgrade to WebSocket, the main namespace "/" (or those with
// handlers), reconnection forever from 1s doubling up to 5s with ±50% jitter.
type Options struct {
	// Transports lists the allowed transports in order of use: "polling"
	// and "websocket". The first one opens the connection; with both,
	// polling is upgraded to WebSocket. Default: polling, websocket.
	Transports []string
	// Path is where the server serves Socket.IO. Default "/socket.io/".
	Path string
	// Headers are sent with every HTTP request and the WebSocket handshake.
	Headers http.Header
	// HeadersFunc, when set, is called before every connection and
	// reconnection attempt and its result is used instead of Headers for
	// that connection.
	HeadersFunc func() http.Header
	// URLFunc, when set, is called before every connection and reconnection
	// attempt and its result is used instead of the URL given to Connect
	// (which may then be empty).
	URLFunc func() string
	// Auth is sent with each namespace CONNECT packet. It must encode as a
	// JSON object; nil sends none.
	Auth any
	// AuthFunc, when set, is called before every connection and
	// reconnection and its result is sent instead of Auth.
	AuthFunc func() any
	// NamespaceAuthFunc, when set, is called for each namespace before
	// every connection and reconnection; its result is that namespace's
	// auth, taking precedence over AuthFunc and Auth (the protocol carries
	// auth per namespace, as socket.io-client's per-socket auth does).
	NamespaceAuthFunc func(namespace string) any
	// Namespaces to connect. Default: the namespaces with handlers
	// registered before Connect, or "/" when there are none.
	Namespaces []string
	// WaitTimeout bounds how long Connect and each reconnection attempt
	// wait for all namespaces to be connected. Default 5s.
	WaitTimeout time.Duration
	// RequestTimeout bounds each handshake, POST and WebSocket dial.
	// Default 10s.
	RequestTimeout time.Duration
	// DisableWait makes Connect return as soon as the Engine.IO connection
	// is open, the namespaces connecting in the background (python-socketio's
	// wait=False): OnConnect and OnConnectError report the outcome, a
	// refused namespace is dropped from the session, and emits are
	// buffered until their namespace is connected. WaitTimeout then only
	// applies to reconnection attempts.
	DisableWait bool
	// Retry applies the reconnection rules (delays, ReconnectionAttempts)
	// to the first connection too, so that Connect reaches a server that
	// comes up late; Connect then blocks until connected, out of attempts
	// or its context is done. A namespace refusal (*ConnectError) is not
	// retried. Retry works even with DisableReconnection. These retries
	// fire the reconnection events too (Client.OnReconnectAttempt and the
	// like), as socket.io-client's do.
	Retry bool

	// DisableBuffering makes emits on a namespace that is not connected
	// fail with ErrNotConnected. By default, while a session is connecting
	// or reconnecting, emits on its namespaces are buffered and sent in
	// order once the namespace is (re)connected, as socket.io-client does;
	// they are discarded (acknowledgement callbacks get ErrDisconnected)
	// when the session ends for good. EmitWithAck and Volatile emits never
	// buffer.
	DisableBuffering bool
	// AckTimeout is how long an emit made through Retries waits for each
	// acknowledgement before resending, when Timeout was not given.
	// Default 5s.
	AckTimeout time.Duration

	// DisableReconnection turns automatic reconnection off.
	DisableReconnection bool
	// ReconnectionAttempts is how many attempts to make before giving up
	// (see Client.OnReconnectFailed); 0 means forever.
	ReconnectionAttempts int
	// ReconnectionDelay is the delay before the first attempt; each next
	// attempt doubles it. Default 1s.
	ReconnectionDelay time.Duration
	// ReconnectionDelayMax caps the delay. Default 5s.
	ReconnectionDelayMax time.Duration
	// RandomizationFactor spreads each delay by ±factor (0.5: ±50%).
	// Default 0.5; a negative value disables the jitter.
	RandomizationFactor float64

	// HTTPClient makes the long-polling requests. Default: a client of its
	// own with its own transport (a clone of http.DefaultTransport, so
	// proxies come from the environment), using TLSConfig if set. When its
	// Transport is an *http.Transport (or nil: http.DefaultTransport), the
	// transport's Proxy and ProxyConnectHeader serve the WebSocket dials
	// too, through an HTTP CONNECT tunnel to an http or https proxy.
	HTTPClient *http.Client
	// TLSConfig is used for wss:// dials and, when HTTPClient is nil, for
	// https:// polling. When nil the HTTPClient's *http.Transport
	// TLSClientConfig is used if there is one, else Go's defaults
	// (certificates verified).
	TLSConfig *tls.Config

	// Logger receives debug and error logs. Default: discard.
	Logger *slog.Logger

	// Parser is the Socket.IO serializer, which the server must share
	// (socket.io-client's parser option): default
	// socketio.JSONParser{JSON: JSON}; msgpackparser.Parser speaks
	// socket.io-msgpack-parser, and any socketio.Parser plugs in a custom
	// packet codec.
	Parser socketio.Parser
	// JSON marshals the application values of emits and acknowledgements
	// and decodes received arguments (python-socketio's json option), with
	// every parser. Default encoding/json.
	JSON socketio.JSONCodec
}

// The defaults applied to zero Options fields.
const (
	DefaultPath                 = "/socket.io/"
	DefaultWaitTimeout          = 5 * time.Second
	DefaultRequestTimeout       = 10 * time.Second
	DefaultReconnectionDelay    = time.Second
	DefaultReconnectionDelayMax = 5 * time.Second
	DefaultRandomizationFactor  = 0.5
	DefaultAckTimeout           = 5 * time.Second
)

func (o Options) withDefaults() Options {
	if len(o.Transports) == 0 {
		o.Transports = []string{"polling", "websocket"}
	}
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.ReconnectionDelay <= 0 {
		o.ReconnectionDelay = DefaultReconnectionDelay
	}
	if o.ReconnectionDelayMax <= 0 {
		o.ReconnectionDelayMax = DefaultReconnectionDelayMax
	}
	if o.ReconnectionDelayMax < o.ReconnectionDelay {
		o.ReconnectionDelayMax = o.ReconnectionDelay
	}
	if o.RandomizationFactor == 0 {
		o.RandomizationFactor = DefaultRandomizationFactor
	} else if o.RandomizationFactor < 0 {
		o.RandomizationFactor = 0
	} else if o.RandomizationFactor > 1 {
		o.RandomizationFactor = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Parser = socketio.ParserOrDefault(o.Parser, o.JSON)
	return o
}
