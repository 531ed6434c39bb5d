// Command chi mounts the Socket.IO server on a github.com/go-chi/chi/v5
// router, next to a normal route, GET /api/hello, which shares the server
// (it reports how many clients are connected). Polling, WebSocket and the
// upgrade all pass through the router. Run it from /work/main/examples
// with `go run ./routers/chi` (PORT picks the port, default 3000).
package main

import (
	"cmp"
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
	"github.com/siogate/siogate/gateway"
)

func main() {
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("chi example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newApp()))
}

// newApp builds the router with the Socket.IO server mounted on it.
func newApp() http.Handler {
	srv := gateway.NewServer(gateway.Config{})
	srv.Of("/").On("hello", func(*gateway.Socket, *gateway.Event) []any {
		return []any{"hi from chi"}
	})

	r := chi.NewRouter()
	r.Get("/api/hello", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"hello": "world", "clients": srv.Of("/").Count()})
	})
	// Every method: polling uses GET and POST, WebSocket a GET upgrade.
	r.Handle("/socket.io/*", srv)
	return r
}
