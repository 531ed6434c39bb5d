package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/admin"
)

// adminUIRel is where npm installs the built admin UI, relative to the
// repository root.
const adminUIRel = "js/node_modules/@socket.io/admin-ui/ui/dist"

// mountAdminUI instruments srv for the Socket.IO Admin UI (namespace
// /admin) and serves the UI's files at /admin/. The returned closer stops
// the instrumentation, then closes next (the adapter's closer, may be
// nil). On error next is closed.
func mountAdminUI(srv *gateway.Server, mux *http.ServeMux, o options, logger *slog.Logger, next io.Closer) (io.Closer, error) {
	fail := func(err error) (io.Closer, error) {
		if next != nil {
			_ = next.Close()
		}
		return nil, err
	}
	dir := o.adminUIDir
	if dir == "" {
		dir = findRepoFile(adminUIRel)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return fail(fmt.Errorf("--admin-ui: no built admin UI at %s (%v): run `npm ci` in js/ or set --admin-ui-dir", dir, err))
	}
	opts := admin.Options{}
	switch {
	case o.adminUser != "" && o.adminPassword != "":
		opts.Auth = admin.Credential{Username: o.adminUser, Password: o.adminPassword}
	case o.adminUser != "" || o.adminPassword != "":
		return fail(errors.New("--admin-user and --admin-password go together"))
	default:
		logger.Warn("admin UI without authentication: anyone who reaches this server can administer it; set --admin-user and --admin-password")
	}
	inst, err := admin.Instrument(srv, opts)
	if err != nil {
		return fail(err)
	}
	mux.Handle("/admin/", http.StripPrefix("/admin/", http.FileServer(http.Dir(dir))))
	mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	logger.Info("admin UI served", "url_path", "/admin/", "namespace", inst.Namespace().Name(), "files", dir)
	return adminCloser{inst, next}, nil
}

type adminCloser struct {
	admin *admin.Admin
	next  io.Closer
}

func (c adminCloser) Close() error {
	c.admin.Close()
	if c.next != nil {
		return c.next.Close()
	}
	return nil
}

// findRepoFile looks for rel from the working directory up, as
// findClientJS does, and returns rel itself when it is nowhere.
func findRepoFile(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	for range 6 {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		dir = filepath.Dir(dir)
	}
	return rel
}
