package client

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	c := New(Options{ReconnectionDelay: 100 * time.Millisecond, ReconnectionDelayMax: 1 * time.Second, RandomizationFactor: -1})
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, w := range want {
		if got := c.backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := c.backoff(1000); got != time.Second {
		t.Errorf("attempt 1000: %v", got)
	}

	j := New(Options{ReconnectionDelay: 100 * time.Millisecond}) // default factor 0.5
	for range 200 {
		if d := j.backoff(1); d < 50*time.Millisecond || d > 150*time.Millisecond {
			t.Fatalf("jittered delay %v outside 50ms..150ms", d)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Path != "/socket.io/" || len(o.Transports) != 2 || o.RandomizationFactor != 0.5 ||
		o.ReconnectionDelay != time.Second || o.ReconnectionDelayMax != 5*time.Second || o.Logger == nil {
		t.Errorf("defaults = %+v", o)
	}
}
