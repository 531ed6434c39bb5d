package gateway

import (
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
)

// AckLater tells the gateway that the event's acknowledgement is answered
// later, with Ack from any goroutine (after a worker answers, say): the
// handler's result is then not sent. Call it in the handler.
func (e *Event) AckLater() {
	e.mu.Lock()
	e.later = true
	e.inline = false // the reader goroutine's fast path is gone by then
	e.mu.Unlock()
}

func (e *Event) answersLater() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.later
}

// WorkerReplyFunc receives a worker's reply that reached namespace ns
// through the cluster adapter.
type WorkerReplyFunc func(ns *Namespace, r *wire.WorkerReply)

// OnWorkerReply sets the function that receives the replies workers
// publish on the cluster's request channels (package gateway/workers sets
// it); nil removes it. Every node receives every reply: f keeps those
// addressed to it.
func (s *Server) OnWorkerReply(f WorkerReplyFunc) {
	if f == nil {
		s.workerReply.Store(nil)
		return
	}
	s.workerReply.Store(&f)
}

var _ adapter.WorkerReplyReceiver = (*localSide)(nil)

// WorkerReply implements adapter.WorkerReplyReceiver: the cluster adapter
// calls it for each worker reply on the namespace's request channel.
func (l *localSide) WorkerReply(r *wire.WorkerReply) {
	ns := (*Namespace)(l)
	if f := ns.srv.workerReply.Load(); f != nil {
		(*f)(ns, r)
	}
}
