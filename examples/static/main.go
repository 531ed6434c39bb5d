// Command static shows Config.StaticFiles, python's static_files: the
// Socket.IO server serves an index page at "/" and a directory under
// "/static/", next to a wrapped handler (Config.Handler) for its JSON API.
// A request is routed to the Socket.IO path first, then to a static rule,
// then to the wrapped handler, else it gets 404. Run it from
// /work/main/examples with `go run ./static` (PORT picks the port,
// default 3000; -dir the folder, default static/public) and open
// http://127.0.0.1:3000.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/siogate/siogate/gateway"
)

func main() {
	dir := flag.String("dir", filepath.Join("static", "public"), "folder of the static files")
	flag.Parse()
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("static example on http://%s, files from %s", addr, *dir)
	log.Fatal(http.ListenAndServe(addr, newServer(*dir)))
}

// newServer builds the example's server serving the files of dir.
func newServer(dir string) *gateway.Server {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"pong": "from the wrapped handler"})
	})
	srv := gateway.NewServer(gateway.Config{
		StaticFiles: gateway.StaticFiles{
			// One URL, one file.
			"/": {Filename: filepath.Join(dir, "index.html")},
			// A directory: /static/style.css is dir/style.css, and
			// /static/ its index.html.
			"/static": {Filename: dir},
		},
		Handler: api,
	})
	srv.Of("/").On("hello", func(*gateway.Socket, *gateway.Event) []any {
		return []any{"hi"}
	})
	return srv
}
