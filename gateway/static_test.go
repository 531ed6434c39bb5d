package gateway_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/siogate/siogate/gateway"
)

func writeFile(t *testing.T, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStaticFiles(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "public")
	writeFile(t, filepath.Join(dir, "latency.html"), "<h1>latency</h1>")
	writeFile(t, filepath.Join(dir, "secret.txt"), "outside")
	writeFile(t, filepath.Join(pub, "index.html"), "index")
	writeFile(t, filepath.Join(pub, "css", "styles.css"), "body{}")
	writeFile(t, filepath.Join(pub, "app.js"), "1")
	writeFile(t, filepath.Join(pub, "data.json"), "{}")
	writeFile(t, filepath.Join(pub, "img.gif"), "GIF89a")
	writeFile(t, filepath.Join(pub, "blob.bin"), "bin")
	writeFile(t, filepath.Join(pub, "sub", "index.html"), "sub index")
	writeFile(t, filepath.Join(dir, "other", "image.gif"), "GIF89a-default")
	writeFile(t, filepath.Join(dir, "other", "index.html"), "not the default")
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(pub, "link.txt")); err != nil {
		t.Fatal(err)
	}

	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "app")
	})
	serve := func(files gateway.StaticFiles, handler http.Handler) *httptest.Server {
		srv := gateway.NewServer(gateway.Config{StaticFiles: files, Handler: handler})
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		return ts
	}
	get := func(ts *httptest.Server, p string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+p, nil)
		if !strings.Contains(p, "?") {
			req.URL.Opaque = p // send the path as is, ".." included
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), string(b)
	}

	ts := serve(gateway.StaticFiles{
		"/":          {Filename: filepath.Join(dir, "latency.html")},
		"/plain":     {Filename: filepath.Join(dir, "latency.html"), ContentType: "text/plain"},
		"/static":    {Filename: pub},
		"/static/js": {Filename: pub, ContentType: "application/x-custom"},
	}, fallback)
	cases := []struct {
		path, body, ctype string
		code              int
	}{
		{"/", "<h1>latency</h1>", "text/html; charset=utf-8", 200},
		{"/plain", "<h1>latency</h1>", "text/plain", 200},
		{"/static/", "index", "text/html; charset=utf-8", 200},
		{"/static/css/styles.css", "body{}", "text/css; charset=utf-8", 200},
		{"/static/app.js", "1", "text/javascript; charset=utf-8", 200},
		{"/static/data.json", "{}", "application/json", 200},
		{"/static/img.gif", "GIF89a", "image/gif", 200},
		{"/static/blob.bin", "bin", "application/octet-stream", 200},
		{"/static/sub/", "sub index", "text/html; charset=utf-8", 200},
		{"/static/js/app.js", "1", "application/x-custom", 200}, // the longest rule wins
		{"/static/missing.txt", "app", "", 418},                 // no such file: on to the application
		{"/static/../secret.txt", "app", "", 418},               // cleaned to /secret.txt: no rule
		{"/static/%2e%2e/secret.txt", "app", "", 418},           // confined: never the file outside
		{"/static/link.txt", "", "", 404},                       // a link out of the directory
		{"/elsewhere", "app", "", 418},                          // no rule: the wrapped application
	}
	for _, c := range cases {
		code, ctype, body := get(ts, c.path)
		if code != c.code || (c.code == 200 && (body != c.body || ctype != c.ctype)) {
			t.Errorf("%s: %d %q %q, want %d %q %q", c.path, code, ctype, body, c.code, c.ctype, c.body)
		}
	}
	// The Socket.IO path comes first, even under a catch-all rule.
	ts2 := serve(gateway.StaticFiles{"/": {Filename: pub}}, nil)
	if code, _, body := get(ts2, "/socket.io/?EIO=4&transport=polling"); code != 200 || body[0] != '0' {
		t.Errorf("Socket.IO path: %d %q", code, body)
	}
	if code, _, _ := get(ts2, "/nothing-here"); code != 404 {
		t.Errorf("no rule, no handler: %d, want 404", code)
	}

	// The empty key sets the default file for URLs ending in "/".
	ts3 := serve(gateway.StaticFiles{"/static": {Filename: filepath.Join(dir, "other")}, "": {Filename: "image.gif"}}, nil)
	if code, ctype, body := get(ts3, "/static/"); code != 200 || body != "GIF89a-default" || ctype != "image/gif" {
		t.Errorf("default file: %d %q %q", code, ctype, body)
	}
	ts4 := serve(gateway.StaticFiles{"/static": {Filename: filepath.Join(dir, "other")}, "": {Filename: "image.gif", ContentType: "text/plain"}}, nil)
	if code, ctype, _ := get(ts4, "/static/"); code != 200 || ctype != "text/plain" {
		t.Errorf("default file content type: %d %q", code, ctype)
	}
}

// TestStaticFS serves the same kind of rules from an fs.FS (here an
// in-memory one, as an embed.FS would be): file and directory rules,
// default files, types, and no way out of a directory rule.
func TestStaticFS(t *testing.T) {
	fsys := fstest.MapFS{
		"latency.html":          {Data: []byte("<h1>latency</h1>")},
		"secret.txt":            {Data: []byte("outside")},
		"public/index.html":     {Data: []byte("index")},
		"public/css/site.css":   {Data: []byte("body{}")},
		"public/sub/index.html": {Data: []byte("sub index")},
		"other/image.gif":       {Data: []byte("GIF89a-default")},
	}
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	srv := gateway.NewServer(gateway.Config{
		StaticFS: fsys,
		StaticFiles: gateway.StaticFiles{
			"/":        {Filename: "latency.html"},
			"/static":  {Filename: "./public"},
			"/other":   {Filename: "other"},
			"/abs":     {Filename: "/etc/hostname"},
			"/climb":   {Filename: "../secret.txt"},
			"/default": {Filename: "other"},
			"":         {Filename: "image.gif"},
		},
		Handler: fallback,
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	for _, c := range []struct {
		path, body, ctype string
		code              int
	}{
		{"/", "<h1>latency</h1>", "text/html; charset=utf-8", 200},
		{"/static/css/site.css", "body{}", "text/css; charset=utf-8", 200},
		{"/static/sub/", "", "", 418},                   // the default file is the "" rule's image.gif: absent there
		{"/other/", "GIF89a-default", "image/gif", 200}, // default file of a directory rule
		{"/static/missing.txt", "", "", 418},
		{"/static/%2e%2e/secret.txt", "", "", 418}, // confined to public/
		{"/abs", "", "", 418},                      // not an fs.FS path: not served
		{"/climb", "", "", 418},
		{"/elsewhere", "", "", 418},
	} {
		req, _ := http.NewRequest("GET", ts.URL+c.path, nil)
		req.URL.Opaque = c.path
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.code || (c.code == 200 && (string(b) != c.body || res.Header.Get("Content-Type") != c.ctype)) {
			t.Errorf("%s: %d %q %q, want %d %q %q", c.path, res.StatusCode, res.Header.Get("Content-Type"), b, c.code, c.ctype, c.body)
		}
	}
}

// TestStaticConfinement asks for files through symbolic links leading out
// of a directory rule, and for paths no file can have, on the disk and
// through os.DirFS (which follows links): each is refused with 404 while a
// well-behaved client beside it gets its files and its Socket.IO session.
func TestStaticConfinement(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "public")
	writeFile(t, filepath.Join(dir, "secret.txt"), "outside")
	writeFile(t, filepath.Join(dir, "private", "key.txt"), "outside too")
	writeFile(t, filepath.Join(pub, "app.js"), "1")
	writeFile(t, filepath.Join(pub, "css", "site.css"), "body{}")
	for link, target := range map[string]string{
		"abs.txt":     filepath.Join(dir, "secret.txt"), // absolute, out
		"rel.txt":     "../secret.txt",                  // relative, out
		"private":     "../private",                     // a directory out
		"deep.txt":    "css/../../secret.txt",           // in, then out
		"inside.js":   "app.js",                         // stays in
		"styles":      "css",                            // a directory that stays in
		"chain.js":    "inside.js",                      // a link to a link in
		"loop-a":      "loop-b",
		"loop-b":      "loop-a",
		"css/back.js": "../app.js", // up, still in
	} {
		if err := os.Symlink(target, filepath.Join(pub, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		fsys fs.FS
		rule string // the directory rule's file name
	}{
		{"disk", nil, pub},
		{"os.DirFS", os.DirFS(dir), "public"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := gateway.NewServer(gateway.Config{StaticFS: c.fsys, StaticFiles: gateway.StaticFiles{"/static": {Filename: c.rule}}})
			ts := httptest.NewServer(srv)
			t.Cleanup(ts.Close)
			get := func(p string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest("GET", ts.URL+p, nil)
				if !strings.Contains(p, "?") {
					req.URL.Opaque = p // sent as is
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(b)
			}
			good := func() {
				t.Helper()
				if code, body := get("/static/app.js"); code != 200 || body != "1" {
					t.Fatalf("well-behaved client: %d %q", code, body)
				}
				if code, body := get("/socket.io/?EIO=4&transport=polling"); code != 200 || !strings.HasPrefix(body, "0{") {
					t.Fatalf("well-behaved client's handshake: %d %q", code, body)
				}
			}
			for _, bad := range []string{
				"/static/abs.txt", "/static/rel.txt", "/static/private/key.txt", "/static/deep.txt",
				"/static/loop-a", "/static/%00", "/static/app.js%00.png", "/static/css%00/site.css",
				"/static/" + strings.Repeat("x", 300),
			} {
				if code, body := get(bad); code != 404 || strings.Contains(body, "outside") {
					t.Errorf("%s: %d %q, want 404", bad, code, body)
				}
				good()
			}
			for p, want := range map[string]string{
				"/static/inside.js":       "1",
				"/static/chain.js":        "1",
				"/static/styles/site.css": "body{}",
				"/static/css/back.js":     "1",
			} {
				if code, body := get(p); code != 200 || body != want {
					t.Errorf("%s: %d %q, want 200 %q", p, code, body, want)
				}
			}
		})
	}
}
