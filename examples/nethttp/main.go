// Command nethttp shows the two ways to serve Socket.IO next to a plain
// net/http JSON API. Mounted: an http.ServeMux routes /socket.io/ to the
// server and /api/ to the API (the default here). Wrapping: the server is
// the top handler and passes every request outside its path to the API
// through Config.Handler (-wrap). Either way the API can drive the
// Socket.IO server: POST /api/news broadcasts to every client. Run it from
// /work/main/examples with `go run ./nethttp` (PORT picks the port,
// default 3000).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/siogate/siogate/gateway"
)

func main() {
	wrap := flag.Bool("wrap", false, "let the Socket.IO server wrap the API instead of mounting it on a mux")
	flag.Parse()
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	h := newMounted()
	if *wrap {
		h = newWrapped()
	}
	log.Printf("nethttp example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, h))
}

// newSocketServer is the Socket.IO side; handler, when not nil, serves
// the requests outside /socket.io/.
func newSocketServer(handler http.Handler) *gateway.Server {
	srv := gateway.NewServer(gateway.Config{Handler: handler})
	srv.Of("/").On("hello", func(*gateway.Socket, *gateway.Event) []any {
		return []any{"hi"}
	})
	return srv
}

// addAPI registers the JSON API on mux; it reaches clients through srv.
func addAPI(mux *http.ServeMux, srv func() *gateway.Server) {
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"clients": srv().Of("/").Count()})
	})
	mux.HandleFunc("POST /api/news", func(w http.ResponseWriter, r *http.Request) {
		text, err := io.ReadAll(io.LimitReader(r.Body, 1<<10))
		if err != nil || len(text) == 0 {
			http.Error(w, "a text body is required", http.StatusBadRequest)
			return
		}
		if err := srv().Emit(context.Background(), "news", string(text)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"sent": true})
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// newMounted mounts the Socket.IO server on a mux, next to the API.
func newMounted() http.Handler {
	srv := newSocketServer(nil)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	addAPI(mux, func() *gateway.Server { return srv })
	return mux
}

// newWrapped makes the Socket.IO server the top handler, wrapping the API.
func newWrapped() http.Handler {
	var srv *gateway.Server
	api := http.NewServeMux()
	addAPI(api, func() *gateway.Server { return srv })
	srv = newSocketServer(api)
	return srv
}
