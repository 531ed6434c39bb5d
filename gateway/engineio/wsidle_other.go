//go:build !linux

package engineio

import (
	"sync/atomic"
	"syscall"
)

// wsPoller is empty where there is no epoll: WebSocket readers never park.
type wsPoller struct{ pongs atomic.Int64 }

// wsPark is a connection's state towards the poller (none here).
type wsPark struct {
	fd int
	rc syscall.RawConn
}

func (s *Server) canPark(*wsSlot) bool { return false }
func (s *Server) park(*wsSlot) bool    { return false }
func (s *Server) unpark(*wsSlot)       {}

func (p *wsPoller) parked() (int, bool) { return 0, false }
