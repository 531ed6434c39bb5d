package natsadapter_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestOneConnectionForEveryNamespace: the namespaces of a node share one
// NATS connection and one delivering goroutine; each distinct channel is
// one NATS subscription, released when its last namespace closes
// (adaptertest.RunNamespaces). Measured by the private server's
// monitoring endpoint (/connz).
func TestOneConnectionForEveryNamespace(t *testing.T) {
	port, mon := freePort(t), freePort(t)
	startNATS(t, port, "-m", fmt.Sprint(mon))
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	adaptertest.RunNamespaces(t, adaptertest.Namespaces{
		Broker: func(t *testing.T, _ string) adapter.Broker {
			b, err := natsadapter.NewBroker(natsadapter.Options{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Usage: func(t *testing.T, _ string) adaptertest.Usage {
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/connz?subs=1", mon))
			if err != nil {
				t.Fatalf("NATS monitoring: %v", err)
			}
			defer resp.Body.Close()
			var connz struct {
				Connections []struct {
					Subscriptions int `json:"subscriptions"`
				} `json:"connections"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
				t.Fatalf("NATS monitoring: %v", err)
			}
			var u adaptertest.Usage
			for _, c := range connz.Connections {
				u.Connections++
				u.Subscriptions += c.Subscriptions
			}
			return u
		},
		MaxConnections: 1,
	})
}
