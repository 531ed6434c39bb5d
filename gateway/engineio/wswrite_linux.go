package engineio

import (
	"syscall"
	"unsafe"
)

// iovec is one element of a writev call.
type iovec = syscall.Iovec

// maxIovecs is the most slices one writev call takes (Linux's IOV_MAX).
const maxIovecs = 1024

// writeNow writes as much of w's batch to the socket under rc as its
// kernel buffer takes at once, never waiting for room. It returns whether
// the whole batch went; what did not stays in w (see writeRest).
func (w *frameWriter) writeNow(rc syscall.RawConn) (bool, error) {
	if w.writer == nil {
		w.writer = w.writeFD
	}
	w.werr = nil
	if err := rc.Write(w.writer); err != nil {
		return false, err
	}
	return w.done(), w.werr
}

// writeFD is writeNow's step on the descriptor, run by rc.Write holding
// the socket's write lock. It returns true always: rc.Write must not wait
// for the socket to become writable.
func (w *frameWriter) writeFD(fd uintptr) bool {
	for !w.done() {
		var n, want int
		var errno syscall.Errno
		if w.gather {
			w.iov = w.iov[:0]
			for _, b := range w.vec[w.vi:] {
				if len(w.iov) == maxIovecs {
					break
				}
				v := syscall.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				w.iov = append(w.iov, v)
				want += len(b)
			}
			r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
			n, errno = int(r), e
		} else {
			want = len(w.flat) - w.off
			r, _, e := syscall.Syscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.flat[w.off])), uintptr(want))
			n, errno = int(r), e
		}
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return true // the buffer is full: the rest waits
		case errno != 0:
			w.werr = errno
			return true
		}
		w.consume(n)
		if n < want {
			return true // the kernel took what it had room for
		}
	}
	return true
}

const canWriteNow = true
