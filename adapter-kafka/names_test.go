package kafkaadapter_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
)

func TestParseURL(t *testing.T) {
	good := map[string][]string{
		"":                               {"127.0.0.1:9092"},
		"kafka://":                       {"127.0.0.1:9092"},
		"kafka://hostname:9092":          {"hostname:9092"},
		"kafka://h1:9092,h2:9093":        {"h1:9092", "h2:9093"},
		"kafka://h1:9092,kafka://h2":     {"h1:9092", "h2:9092"},
		"h1:9092, h2:19092":              {"h1:9092", "h2:19092"},
		"broker":                         {"broker:9092"},
		"kafka://[::1]:9092":             {"[::1]:9092"},
		"[::1]":                          {"[::1]:9092"},
		"kafka://kafka.example.com:9094": {"kafka.example.com:9094"},
	}
	for raw, want := range good {
		got, err := kafkaadapter.ParseURL(raw)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseURL(%q) = %v, %v; want %v", raw, got, err, want)
		}
	}
	for _, bad := range []string{
		"http://127.0.0.1:9092", "redis://h:6379", "kafka://h:x", "kafka://h:0", "h:70000",
		"h1:9092,,h2:9092", "kafka://user:pw@h:9092", "kafka://h:9092/topic", "h:9092/x",
		"kafka://h:9092?tls=1", "::1", "kafka://[::1",
	} {
		if _, err := kafkaadapter.NewBroker(kafkaadapter.Options{URL: bad}); !errors.Is(err, kafkaadapter.ErrBadURL) {
			t.Errorf("%q: err = %v, want ErrBadURL", bad, err)
		}
	}
	start := time.Now()
	_, err := kafkaadapter.NewBroker(kafkaadapter.Options{URL: "kafka://127.0.0.1:1"})
	if err == nil || errors.Is(err, kafkaadapter.ErrBadURL) {
		t.Errorf("unreachable Kafka: err = %v, want a connection error", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("failing took %v", el)
	}
}

func TestTopicName(t *testing.T) {
	for ch, want := range map[string]string{
		"socket.io#/#":                   "socket_2Eio_23_2F_23",
		"socket.io-request#/chat#":       "socket_2Eio-request_23_2Fchat_23",
		"siotest-ab12-response#/x#Qz9_#": "siotest-ab12-response_23_2Fx_23Qz9_5F_23",
		"a%b":                            "a_25b",
		"plain-Name09":                   "plain-Name09",
	} {
		if got := kafkaadapter.TopicName(ch); got != want {
			t.Errorf("TopicName(%q) = %q, want %q", ch, got, want)
		}
	}
	// One-to-one over channels that differ only in escaped characters.
	seen := map[string]string{}
	for _, ch := range []string{"a.b", "a_b", "a#b", "a/b", "a%2Eb", "a_2Eb", "a%b", "a-b", "a.b#", "a._b"} {
		n := kafkaadapter.TopicName(ch)
		if prev, dup := seen[n]; dup {
			t.Errorf("%q and %q both map to %q", prev, ch, n)
		}
		seen[n] = ch
		for i := 0; i < len(n); i++ {
			c := n[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Errorf("%q has %q, not allowed (or '.', which Kafka confuses with '_')", n, c)
			}
		}
	}
}
