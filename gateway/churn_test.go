package gateway_test

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
)

// TestChurn opens and closes many connections, each connecting to "/" and
// exchanging one event with ack, then checks that every session is gone
// and no goroutine leaked.
func TestChurn(t *testing.T) {
	wsN, pollN := 2000, 500
	if testing.Short() {
		wsN, pollN = 200, 50
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: transport}

	before := runtime.NumGoroutine()
	ts := newSIO(t, gateway.Config{})
	ts.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })

	cycle := func(tr string, i int) error {
		c, err := ts.dialErr(tr, dialOpts{hc: hc})
		if err != nil {
			return err
		}
		defer c.close()
		if err := c.sendRaw(frame{data: []byte("40")}); err != nil {
			return err
		}
		f, err := c.nextErr(waitFor)
		if err != nil {
			return fmt.Errorf("CONNECT answer: %w", err)
		}
		if !strings.HasPrefix(string(f.data), `40{"sid":`) {
			return fmt.Errorf("CONNECT answer %s", f)
		}
		if err := c.sendRaw(frame{data: fmt.Appendf(nil, `42%d["echo",%d]`, i, i)}); err != nil {
			return err
		}
		f, err = c.nextErr(waitFor)
		if err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		if want := fmt.Sprintf(`43%d[%d]`, i, i); string(f.data) != want {
			return fmt.Errorf("ack %s, want %s", f, want)
		}
		return nil
	}
	run := func(tr string, n, workers int) {
		start := time.Now()
		jobs := make(chan int)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					if err := cycle(tr, i); err != nil {
						errs <- fmt.Errorf("%s cycle %d: %w", tr, i, err)
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		close(errs)
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		if len(all) > 0 {
			t.Fatalf("%d of %d %s cycles failed; first: %v", len(all), n, tr, errors.Join(all[:min(len(all), 5)]...))
		}
		t.Logf("%d %s cycles in %v", n, tr, time.Since(start).Round(time.Millisecond))
	}
	run("websocket", wsN, 32)
	run("polling", pollN, 16)

	eventually(t, "every Engine.IO session to close", func() bool { return ts.srv.Engine().Count() == 0 })
	eventually(t, "every socket to leave /", func() bool { return ts.srv.Of("/").Count() == 0 })

	transport.CloseIdleConnections()
	ts.ts.CloseClientConnections()
	const margin = 8
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > before+margin && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		transport.CloseIdleConnections()
		n = runtime.NumGoroutine()
	}
	if n > before+margin {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("goroutines: %d before, %d after (margin %d); stacks:\n%s", before, n, margin, buf)
	}
}
