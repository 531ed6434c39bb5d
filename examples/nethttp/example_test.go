package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
)

func TestNetHTTP(t *testing.T) {
	for name, newApp := range map[string]func() http.Handler{"mounted": newMounted, "wrapped": newWrapped} {
		t.Run(name, func(t *testing.T) {
			base := et.Serve(t, newApp(), nil)
			var news []<-chan client.Args
			for _, transports := range [][]string{{"polling"}, {"websocket"}} {
				c := et.NewClient(t, client.Options{Transports: transports})
				news = append(news, et.Record(c, "/", "news"))
				et.Connect(t, c, base)
				if got := c.Transport(); got != transports[0] {
					t.Fatalf("transport = %s, want %s", got, transports[0])
				}
				if got := et.Call(t, c, "/", "hello").String(0); got != "hi" {
					t.Fatalf("hello over %s = %q", transports[0], got)
				}
			}

			status, ctype, body := et.Get(t, base+"/api/status")
			if status != http.StatusOK || ctype != "application/json" || body != `{"clients":2}`+"\n" {
				t.Fatalf("GET /api/status: %d %s %s", status, ctype, body)
			}

			// The API drives the Socket.IO server.
			ctx, cancel := context.WithTimeout(context.Background(), et.Timeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/news", strings.NewReader("extra!"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /api/news: %d", resp.StatusCode)
			}
			for _, ch := range news {
				if got := et.String(t, et.Next(t, ch), 0); got != "extra!" {
					t.Fatalf("news = %q", got)
				}
			}

			if status, _, _ := et.Get(t, base+"/nowhere"); status != http.StatusNotFound {
				t.Fatalf("GET /nowhere: %d, want 404", status)
			}
		})
	}
}
