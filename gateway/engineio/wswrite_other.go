//go:build !linux

package engineio

import (
	"errors"
	"syscall"
)

// iovec is unused where writes never skip the Go poller.
type iovec struct{}

var errNoWriteNow = errors.New("engineio: no non-blocking write here")

// writeNow is never called here (the writer pool hands every session its
// own writing goroutine, see canWriteNow).
func (w *frameWriter) writeNow(syscall.RawConn) (bool, error) { return false, errNoWriteNow }

const canWriteNow = false
