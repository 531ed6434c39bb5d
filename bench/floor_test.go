package bench

import (
	"testing"
	"time"
)

func TestRewriteAck(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		hdr      int
		prefix   []byte
		typ      byte
	}{
		{`42["echo","abc"]`, `42["echo","abc"]`, 2, echoPrefix, '3'}, // no id: unchanged
		{`421["echo","abc"]`, `431["abc"]`, 2, echoPrefix, '3'},
		{`4212345["echo",{"a":1},2]`, `4312345[{"a":1},2]`, 2, echoPrefix, '3'},
		{`451-7["binary",{"_placeholder":true,"num":0}]`, `461-7[{"_placeholder":true,"num":0}]`, 4, binaryPrefix, '6'},
		{`427["other",1]`, `427["other",1]`, 2, echoPrefix, '3'},
	} {
		got := string(rewriteAck([]byte(tc.in), tc.hdr, tc.prefix, tc.typ))
		if got != tc.want {
			t.Errorf("rewriteAck(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(timeMicros(i))
	}
	p50 := h.quantile(0.5)
	p99 := h.quantile(0.99)
	if p50 < timeMicros(480) || p50 > timeMicros(520) {
		t.Errorf("p50 = %v", p50)
	}
	if p99 < timeMicros(970) || p99 > timeMicros(1010) {
		t.Errorf("p99 = %v", p99)
	}
}

func timeMicros(n int) time.Duration { return time.Duration(n) * time.Microsecond }
