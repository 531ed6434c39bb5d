package emitter_test

import (
	"os"
	"strings"
	"testing"
)

// The emitter module requires no broker module: a program that emits
// through NATS does not pull go-redis, and the other way round.
func TestNoBrokerModule(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if strings.Contains(line, "siogate/adapter-") || strings.Contains(line, "go-redis") ||
			strings.Contains(line, "nats.go") || strings.Contains(line, "amqp091") || strings.Contains(line, "kafka") {
			t.Errorf("emitter/go.mod names a broker: %q", strings.TrimSpace(line))
		}
	}
}
