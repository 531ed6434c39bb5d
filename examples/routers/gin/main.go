// Command gin mounts the Socket.IO server on a github.com/gin-gonic/gin
// engine, next to a normal route, GET /api/hello, which shares the server
// (it reports how many clients are connected). Polling, WebSocket and the
// upgrade all pass through gin. Run it from /work/main/examples with
// `go run ./routers/gin` (PORT picks the port, default 3000).
package main

import (
	"cmp"
	"log"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
	"github.com/siogate/siogate/gateway"
)

func main() {
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("gin example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newApp()))
}

// newApp builds the gin engine with the Socket.IO server mounted on it.
func newApp() http.Handler {
	srv := gateway.NewServer(gateway.Config{})
	srv.Of("/").On("hello", func(*gateway.Socket, *gateway.Event) []any {
		return []any{"hi from gin"}
	})

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/api/hello", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"hello": "world", "clients": srv.Of("/").Count()})
	})
	// Every method: polling uses GET and POST, WebSocket a GET upgrade.
	r.Any("/socket.io/*any", gin.WrapH(srv))
	return r
}
