package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotConnected reports an operation that needs a connected namespace
// (or client) while there is none.
var ErrNotConnected = errors.New("client: not connected")

// ErrAlreadyConnected reports a Connect on a client that is connected,
// connecting or reconnecting.
var ErrAlreadyConnected = errors.New("client: already connected")

// ErrDisconnected is given to acknowledgement callbacks and EmitWithAck
// when the connection ends before the server acknowledged: at once, when
// the connection is lost, not after a timeout nor after a reconnection
// (the event may or may not have reached the server; use Retries for
// events that must be acknowledged). Buffered emits discarded at the end
// of a session get it too.
var ErrDisconnected = errors.New("client: disconnected before the acknowledgement arrived")

// ErrClosed reports a SimpleClient or Engine.IO connection that was closed.
var ErrClosed = errors.New("client: closed")

// TimeoutError reports an operation that did not complete in time. It
// matches context.DeadlineExceeded with errors.Is.
type TimeoutError struct {
	// Op names what timed out, such as "ack my-event" or "receive".
	Op string
}

// Error implements error.
func (e *TimeoutError) Error() string { return "client: " + e.Op + " timed out" }

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// Unwrap makes errors.Is(err, context.DeadlineExceeded) true.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// ConnectError is the server's refusal of a namespace (a CONNECT_ERROR
// packet).
type ConnectError struct {
	// Namespace is the refused namespace.
	Namespace string
	// Message is the server's error message.
	Message string
	// Data is the optional additional data the server attached, as raw JSON
	// (nil when absent).
	Data json.RawMessage
}

// Error implements error.
func (e *ConnectError) Error() string {
	return fmt.Sprintf("client: namespace %s refused: %s", e.Namespace, e.Message)
}

// parseConnectError decodes a CONNECT_ERROR payload: {"message","data"} in
// protocol v5, or a bare string from older servers.
func parseConnectError(ns string, data []byte) *ConnectError {
	ce := &ConnectError{Namespace: ns}
	var obj struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &obj); err == nil {
		ce.Message, ce.Data = obj.Message, obj.Data
		return ce
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		ce.Message = s
		return ce
	}
	ce.Message = string(data)
	return ce
}

// DisconnectReason says why a namespace was disconnected.
type DisconnectReason string

// The disconnect reasons, spelled as socket.io-client spells them.
const (
	// ReasonClientDisconnect: Disconnect or Shutdown was called.
	ReasonClientDisconnect DisconnectReason = "io client disconnect"
	// ReasonServerDisconnect: the server disconnected the namespace.
	ReasonServerDisconnect DisconnectReason = "io server disconnect"
	// ReasonPingTimeout: the server sent no ping within pingInterval +
	// pingTimeout.
	ReasonPingTimeout DisconnectReason = "ping timeout"
	// ReasonTransportClose: the server closed the connection.
	ReasonTransportClose DisconnectReason = "transport close"
	// ReasonTransportError: the connection failed (network or HTTP error).
	ReasonTransportError DisconnectReason = "transport error"
	// ReasonParseError: the server sent bytes that are not valid packets.
	ReasonParseError DisconnectReason = "parse error"
)
