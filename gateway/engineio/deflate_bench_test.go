package engineio_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway/engineio"
)

// tally counts what the benchmark's clients read.
type tally struct {
	mu     sync.Mutex
	cond   sync.Cond
	frames int
	bytes  int
}

// drain reads frames off br until the connection ends, counting them and
// their bytes on the wire (headers included) without looking inside.
func (t *tally) drain(br *bufio.Reader) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		size, n := 2, int(h[1]&0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			size, n = size+2, int(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			size, n = size+8, int(binary.BigEndian.Uint64(b[:]))
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		t.mu.Lock()
		t.frames++
		t.bytes += size + n
		t.cond.Broadcast()
		t.mu.Unlock()
	}
}

// wait blocks until n frames were read.
func (t *tally) wait(n int) {
	t.mu.Lock()
	for t.frames < n {
		t.cond.Wait()
	}
	t.mu.Unlock()
}

// chatPayload is a Socket.IO event of about 2 KB: a page of chat
// messages, JSON with the repetition real traffic has, not a constant.
func chatPayload() []byte {
	var b strings.Builder
	b.WriteString(`2["messages",[`)
	for i := range 16 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"room":"general","user":{"id":"u%04d","name":"user %d"},"text":"message %d of the page, with some words","ts":%d}`,
			1000+i*37, i*7919%10000, i*13, i, 1733480000000+int64(i)*1543)
	}
	b.WriteString(`]]`)
	return []byte(b.String())
}

// BenchmarkBroadcastDeflate broadcasts a 2 KB event to 50 WebSocket
// clients: plain, compressed once per broadcast (Frame.Shared, the
// gateway's broadcast path), and compressed once per socket (a frame that
// is not shared). ns/op is one broadcast, server and the in-process
// clients' reading together; wireB/msg is what one client reads per
// message, frame header included.
func BenchmarkBroadcastDeflate(b *testing.B) {
	for _, c := range []struct {
		name            string
		deflate, shared bool
	}{
		{"plain", false, true},
		{"deflate-shared", true, true},
		{"deflate-per-socket", true, false},
	} {
		b.Run(c.name, func(b *testing.B) { benchBroadcast(b, c.deflate, c.shared) })
	}
}

func benchBroadcast(b *testing.B, deflate, shared bool) {
	const sockets = 50
	s := newServer(b, engineio.Config{WebSocketCompression: true})
	offer := []string{"permessage-deflate; client_max_window_bits"}
	if !deflate {
		offer = nil
	}
	t := &tally{}
	t.cond.L = &t.mu
	sessions := make([]*engineio.Session, sockets)
	for i := range sessions {
		ws := dialRaw(b, s, "", offer...)
		sessions[i] = s.rec.session(b, ws.open(b))
		_ = ws.conn.SetReadDeadline(time.Time{}) // dialRaw's deadline is for tests
		go t.drain(ws.br)
	}
	payload := chatPayload()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f := engineio.MessageFrame(payload)
		if shared {
			f = f.Shared(true)
		}
		for _, ss := range sessions {
			if err := ss.Send(f); err != nil {
				b.Fatal(err)
			}
		}
		if i%64 == 63 { // keep at most 128 broadcasts in flight
			t.wait((i - 63) * sockets)
		}
	}
	t.wait(b.N * sockets)
	b.StopTimer()
	t.mu.Lock()
	defer t.mu.Unlock()
	b.ReportMetric(float64(t.bytes)/float64(b.N*sockets), "wireB/msg")
	b.ReportMetric(float64(len(payload)+1), "rawB/msg")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sockets), "ns/delivery")
}
