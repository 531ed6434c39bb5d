// Package exampletest holds what the examples' tests share: starting a
// handler on a free 127.0.0.1 port, connecting Go clients to it, and
// waiting for the events they receive, always with bounded timeouts.
package exampletest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
	"github.com/siogate/siogate/gateway"
)

// Timeout bounds every wait of a test helper.
const Timeout = 3 * time.Second

// Listen opens a listener on a free 127.0.0.1 port, closed when the test
// ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// Serve serves h on a free 127.0.0.1 port and returns its base URL, such
// as "http://127.0.0.1:41234". When the test ends, srv (if not nil) is
// shut down first, so that pending long-polls end, then the HTTP server is
// closed. Register clients after calling Serve so that they are closed
// before it.
func Serve(t testing.TB, h http.Handler, srv *gateway.Server) string {
	t.Helper()
	ln := Listen(t)
	hs := &http.Server{Handler: h, ReadHeaderTimeout: Timeout}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), Timeout)
			_ = srv.Shutdown(ctx)
			cancel()
		}
		_ = hs.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// NewClient returns a client that does not reconnect, with short connect
// timeouts, shut down when the test ends. Register its handlers, then
// Connect it.
func NewClient(t testing.TB, opts client.Options) *client.Client {
	t.Helper()
	opts.DisableReconnection = true
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = Timeout
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = Timeout
	}
	c := client.New(opts)
	t.Cleanup(func() {
		c.Shutdown()
		c.Wait()
	})
	return c
}

// Connect connects c to url, failing the test on error.
func Connect(t testing.TB, c *client.Client, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.Connect(ctx, url); err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
}

// Dial is NewClient then Connect, for clients with no handlers of their
// own.
func Dial(t testing.TB, url string, opts client.Options) *client.Client {
	t.Helper()
	c := NewClient(t, opts)
	Connect(t, c, url)
	return c
}

// Record registers a handler for event on namespace ns of c that queues
// the event's arguments on the returned channel (up to 256; more are
// dropped). Register it before Connect.
func Record(c *client.Client, ns, event string) <-chan client.Args {
	ch := make(chan client.Args, 256)
	c.Of(ns).On(event, func(e *client.Event) []any {
		select {
		case ch <- e.Args:
		default:
		}
		return nil
	})
	return ch
}

// Next waits for the next value on ch, failing the test after Timeout.
func Next[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(Timeout):
		var zero T
		t.Fatalf("nothing received within %v", Timeout)
		return zero
	}
}

// Nothing fails the test if ch yields a value within d.
func Nothing[T any](t testing.TB, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected value received: %v", v)
	case <-time.After(d):
	}
}

// Call calls event on namespace ns of c and waits for the server's
// acknowledgement, failing the test on error.
func Call(t testing.TB, c *client.Client, ns, event string, args ...any) client.Args {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	res, err := c.Of(ns).EmitWithAck(ctx, event, args...)
	if err != nil {
		t.Fatalf("call %s %q: %v", ns, event, err)
	}
	return res
}

// String decodes argument i of args as a string, failing the test if it
// is not one.
func String(t testing.TB, args client.Args, i int) string {
	t.Helper()
	var s string
	if err := args.Decode(i, &s); err != nil {
		t.Fatalf("argument %d of %v: %v", i, args, err)
	}
	return s
}

// Get fetches url with a bounded timeout and returns the status, the
// Content-Type and the body.
func Get(t testing.TB, url string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}
