package ratelog

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var l Limiter[string]
	t0 := time.Unix(1000, 0)
	step := func(key string, at time.Duration, wantOK bool, wantSuppressed int) {
		t.Helper()
		ok, n := l.Allow(key, t0.Add(at))
		if ok != wantOK || n != wantSuppressed {
			t.Fatalf("%s at %v: %v %d, want %v %d", key, at, ok, n, wantOK, wantSuppressed)
		}
	}
	step("a", 0, true, 0)
	step("a", 100*time.Millisecond, false, 0)
	step("b", 100*time.Millisecond, true, 0) // keys apart
	step("a", 999*time.Millisecond, false, 0)
	step("a", time.Second, true, 2)
	step("a", 3*time.Second, true, 0)
	l2 := Limiter[int]{Period: time.Minute}
	if ok, _ := l2.Allow(1, t0); !ok {
		t.Fatal("first line refused")
	}
	if ok, _ := l2.Allow(1, t0.Add(59*time.Second)); ok {
		t.Fatal("a line within the period")
	}
}
