// Command auth shows connection authentication: the connect handler reads
// the client's auth payload and the HTTP request that opened the
// connection (a header and a query parameter), and refuses with a
// *gateway.ConnectError whose message and data the client receives in its
// connect_error. With -always-connect (Config.AlwaysConnect) the
// connection is accepted first and a refusal disconnects it instead. Run
// it from /work/main/examples with `go run ./auth` (PORT picks the port,
// default 3000) and connect with the auth {"token": "s3cret"}.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"

	"github.com/siogate/siogate/gateway"
)

func main() {
	always := flag.Bool("always-connect", false, "accept connections before the connect handler runs")
	flag.Parse()
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("auth example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newServer(*always)))
}

// token is the secret clients must present (a real server would check a
// signed token or ask an identity service).
const token = "s3cret"

// credentials is the auth payload clients send with their CONNECT.
type credentials struct {
	Token string `json:"token"`
	User  string `json:"user"`
}

// newServer builds the example's server; alwaysConnect sets
// Config.AlwaysConnect.
func newServer(alwaysConnect bool) *gateway.Server {
	srv := gateway.NewServer(gateway.Config{AlwaysConnect: alwaysConnect})
	srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		var cred credentials
		if err := json.Unmarshal(auth, &cred); err != nil || cred.Token != token {
			return &gateway.ConnectError{
				Message: "not authorized",
				Data:    map[string]any{"reason": "bad or missing token", "retry": false},
			}
		}
		// The request that opened the connection: python's environ.
		r := s.Request()
		version := r.Header.Get("X-Client-Version")
		if version == "" {
			return &gateway.ConnectError{Message: "X-Client-Version header required"}
		}
		s.SetData(cred.User)
		return s.Emit("hello", cred.User, version, r.URL.Query().Get("lang"))
	})
	srv.Of("/").On("whoami", func(s *gateway.Socket, _ *gateway.Event) []any {
		return []any{s.Data()}
	})
	return srv
}
