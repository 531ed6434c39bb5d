package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
)

func TestStaticFiles(t *testing.T) {
	// The test's own files; secret.txt sits outside the served folder.
	root := t.TempDir()
	dir := filepath.Join(root, "public")
	for name, body := range map[string]string{
		"public/index.html":      "<h1>index</h1>",
		"public/app.js":          "console.log('app')",
		"public/docs/index.html": "<h1>docs</h1>",
		"public/data.bin":        "\x00\x01",
		"secret.txt":             "do not serve",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := newServer(dir)
	base := et.Serve(t, srv, srv)

	for _, tc := range []struct {
		path        string
		status      int
		ctype, body string
	}{
		{"/", 200, "text/html; charset=utf-8", "<h1>index</h1>"},
		{"/static/app.js", 200, "text/javascript; charset=utf-8", "console.log('app')"},
		{"/static/", 200, "text/html; charset=utf-8", "<h1>index</h1>"},
		{"/static/docs/", 200, "text/html; charset=utf-8", "<h1>docs</h1>"},
		{"/static/data.bin", 200, "application/octet-stream", "\x00\x01"},
		// No way out of the directory.
		{"/static/%2e%2e/secret.txt", 404, "", ""},
		// Not a static rule: the wrapped handler.
		{"/api/ping", 200, "application/json", `{"pong":"from the wrapped handler"}` + "\n"},
		// Nothing matches.
		{"/nowhere", 404, "", ""},
		{"/index.html", 404, "", ""},
	} {
		status, ctype, body := et.Get(t, base+tc.path)
		if status != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, status, tc.status)
			continue
		}
		if status == http.StatusOK && (ctype != tc.ctype || body != tc.body) {
			t.Errorf("GET %s: %q %q, want %q %q", tc.path, ctype, body, tc.ctype, tc.body)
		}
	}

	// The Socket.IO path comes first: a handshake, then a client.
	status, _, body := et.Get(t, base+"/socket.io/?EIO=4&transport=polling")
	if status != http.StatusOK || !strings.HasPrefix(body, `0{"sid":`) {
		t.Fatalf("handshake: %d %q", status, body)
	}
	c := et.Dial(t, base, client.Options{})
	if got := et.Call(t, c, "/", "hello").String(0); got != "hi" {
		t.Fatalf("hello = %q", got)
	}
}

// The example's own folder is served as documented.
func TestStaticPublicFolder(t *testing.T) {
	srv := newServer("public")
	base := et.Serve(t, srv, srv)
	if status, ctype, body := et.Get(t, base+"/"); status != http.StatusOK || ctype != "text/html; charset=utf-8" || !strings.Contains(body, "Hello from the static files") {
		t.Fatalf("GET /: %d %s %q", status, ctype, body)
	}
	if status, ctype, _ := et.Get(t, base+"/static/style.css"); status != http.StatusOK || ctype != "text/css; charset=utf-8" {
		t.Fatalf("GET /static/style.css: %d %s", status, ctype)
	}
}
