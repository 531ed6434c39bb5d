package wire

import (
	"fmt"
)

// Worker forwarding: a gateway node pushes the client events no built-in
// handler takes to a work queue (one consumer group shared by every
// worker), as msgpack WorkerEvent values; a worker answers each event with
// a TypeWorkerReply request on the namespace's request channel, which every
// node receives and the node named in it applies.

// TypeWorkerReply is a worker's answer to one forwarded event, published on
// the namespace's request channel (msgpack). Node ignores it.
const TypeWorkerReply = 102

// WorkerEvent is one client event on its way to a worker. The msgpack field
// names are the contract with workers in any language.
type WorkerEvent struct {
	// ID is unique per event (the node's id, a dash and a sequence
	// number): the queue delivers at least once, so a worker that must not
	// act twice drops ids it has seen.
	ID string `msgpack:"id"`
	// Node names the gateway node holding the socket; the reply carries it
	// back.
	Node string `msgpack:"node"`
	// Nsp, SID and Event say which socket sent which event.
	Nsp   string `msgpack:"nsp"`
	SID   string `msgpack:"sid"`
	Event string `msgpack:"event"`
	// Args are the event's arguments, binary attachments inline as msgpack
	// bin values.
	Args []any `msgpack:"args"`
	// Data is the socket's data (gateway Socket.SetData), nil when unset.
	Data any `msgpack:"data"`
	// AckID is the client's acknowledgement id, when HasAck.
	AckID  uint64 `msgpack:"ackId,omitempty"`
	HasAck bool   `msgpack:"ack,omitempty"`
	// Deadline, in Unix milliseconds, is when the node stops waiting for
	// the reply (the client then got an error ack). A later reply is
	// dropped.
	Deadline int64 `msgpack:"deadline,omitempty"`
}

// EncodeWorkerEvent encodes an event for the work queue.
func EncodeWorkerEvent(e *WorkerEvent) ([]byte, error) {
	if e.Args == nil {
		e.Args = []any{}
	}
	return marshalMsgpack(e)
}

// DecodeWorkerEvent decodes an event taken from the work queue.
func DecodeWorkerEvent(data []byte) (*WorkerEvent, error) {
	e := new(WorkerEvent)
	if err := Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("wire: bad worker event: %w", err)
	}
	normalize(e.Args)
	e.Data = normalizeValue(e.Data)
	return e, nil
}

// WorkerReply is a worker's answer to one event. Every event gets one, so
// the node knows when it is done (its in-flight count); Args answer the
// client's acknowledgement when it asked for one, Error (when not empty)
// answers it with {"message": Error} instead.
type WorkerReply struct {
	Node    string `msgpack:"node"`
	EventID string `msgpack:"eventId"`
	Args    []any  `msgpack:"args"`
	Error   string `msgpack:"error,omitempty"`
}

// workerReplyMsg is the request envelope of a reply: msgpack, with type
// first so that any receiver of the request channel can tell it apart.
type workerReplyMsg struct {
	Type  int         `msgpack:"type"`
	UID   string      `msgpack:"uid"`
	Reply WorkerReply `msgpack:"reply"`
}

// EncodeWorkerReply encodes a reply for the namespace's request channel.
func EncodeWorkerReply(r *WorkerReply) ([]byte, error) {
	if r.Args == nil {
		r.Args = []any{}
	}
	return marshalMsgpack(workerReplyMsg{Type: TypeWorkerReply, UID: EmitterUID, Reply: *r})
}

// DecodeWorkerReply decodes a reply read from the request channel.
func DecodeWorkerReply(data []byte) (*WorkerReply, error) {
	var m workerReplyMsg
	if err := Unmarshal(data, &m); err != nil || m.Type != TypeWorkerReply {
		return nil, fmt.Errorf("wire: bad worker reply: %v", err)
	}
	normalize(m.Reply.Args)
	return &m.Reply, nil
}
