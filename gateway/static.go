package gateway

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// StaticFile is the target of a static-file rule: a file, or for a
// directory rule a directory, and an optional content type.
type StaticFile struct {
	// Filename is the file (or directory) on disk, or in Config.StaticFS
	// when that is set.
	Filename string
	// ContentType overrides the type chosen from the extension.
	ContentType string
}

// StaticFiles are python-socketio's static_files rules, keyed by URL path:
//
//	gateway.StaticFiles{
//		"/":       {Filename: "latency.html"},            // one URL, one file
//		"/static": {Filename: "./public"},                // a directory
//		"":        {Filename: "image.gif"},               // default file for URLs ending in "/"
//	}
//
// A URL matching a key exactly gets that file. Otherwise the longest key
// that is a path prefix of the URL (at a "/" boundary) is a directory rule:
// the rest of the URL is looked up in its directory, never outside it:
// a symbolic link leading out is refused with 404, on the disk (os.Root)
// and in a Config.StaticFS that implements fs.ReadLinkFS, as os.DirFS
// does (others, such as embed.FS, hold no links); so are paths no file
// can have (a NUL byte, a name too long). A
// URL ending in "/" gets the default file (the "" rule, else index.html).
// Types come from ContentType, else the extension (.html .css .js .json
// .jpg .png .gif .txt), else application/octet-stream. Meant for
// development, as in python-socketio: there is no caching.
type StaticFiles map[string]StaticFile

var staticTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".jpg":  "image/jpeg",
	".png":  "image/png",
	".gif":  "image/gif",
	".txt":  "text/plain; charset=utf-8",
}

// staticResolved is where a URL leads: the directory it must stay in ("" for
// a file rule), the file relative to it, and the content type.
type staticResolved struct {
	dir, name, contentType string
}

// resolve maps a URL path to a file, or reports false. isDir tells the
// directory rules from the file rules.
func (sf StaticFiles) resolve(urlPath string, isDir func(string) bool) (staticResolved, bool) {
	def, hasDef := sf[""]
	withDefault := func(r staticResolved) staticResolved {
		if hasDef {
			r.name = path.Join(r.name, def.Filename)
			r.contentType = def.ContentType
		} else {
			r.name = path.Join(r.name, "index.html")
		}
		return r
	}
	if f, ok := sf[urlPath]; ok && urlPath != "" {
		r := staticResolved{name: f.Filename, contentType: f.ContentType}
		if strings.HasSuffix(urlPath, "/") && isDir(f.Filename) {
			r = withDefault(staticResolved{dir: f.Filename})
		}
		return r, true
	}
	keys := make([]string, 0, len(sf))
	for k := range sf {
		if k != "" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		prefix := strings.TrimSuffix(k, "/") + "/"
		if !strings.HasPrefix(urlPath, prefix) || !isDir(sf[k].Filename) {
			continue // file rules match their URL only
		}
		rest := urlPath[len(prefix):]
		r := staticResolved{dir: sf[k].Filename, name: rest, contentType: sf[k].ContentType}
		if rest == "" || strings.HasSuffix(rest, "/") {
			r.contentType = ""
			r = withDefault(r)
		}
		return r, true
	}
	return staticResolved{}, false
}

// badStaticPath tells the errors a request's path causes (a path out of
// its tree, a name no file can have), answered 404, from failures of the
// file system itself.
func badStaticPath(err error) bool {
	return errors.Is(err, errStaticEscape) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, fs.ErrInvalid) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENAMETOOLONG) || errors.Is(err, syscall.ELOOP) ||
		strings.Contains(err.Error(), "escapes")
}

func isDiskDir(name string) bool {
	st, err := os.Stat(name)
	return err == nil && st.IsDir()
}

// fsName is a rule's file name as an io/fs path ("./public" is "public"),
// or false when it cannot be one (rooted, or climbing out with "..").
func fsName(name string) (string, bool) {
	name = path.Clean(name)
	return name, fs.ValidPath(name)
}

func isFSDir(fsys fs.FS) func(string) bool {
	return func(name string) bool {
		name, ok := fsName(name)
		if !ok {
			return false
		}
		st, err := fs.Stat(fsys, name)
		return err == nil && st.IsDir()
	}
}

// errStaticEscape refuses a static path that leads out of its tree.
var errStaticEscape = errors.New("gateway: static path escapes its directory")

// maxStaticLinks bounds the symbolic links followed for one static path.
const maxStaticLinks = 40

// confineFS resolves name, below dir, in fsys, following symbolic links
// only while they stay inside dir: a link whose target is absolute, or
// climbs out of dir, fails with errStaticEscape. It returns the path to
// open, with no link left in it. dir is "." for the whole file system.
// A file system that does not implement fs.ReadLinkFS cannot show its
// links: its paths are used as they are, cleaned.
func confineFS(fsys fs.FS, dir, name string) (string, error) {
	lfs, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return path.Join(dir, name), nil
	}
	at := dir
	parts := strings.Split(name, "/")
	links := 0
	for len(parts) > 0 {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if at == dir {
				return "", errStaticEscape
			}
			at = path.Dir(at)
			continue
		}
		next := path.Join(at, part)
		st, err := lfs.Lstat(next)
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			at = next
			continue
		}
		if links++; links > maxStaticLinks {
			return "", errStaticEscape
		}
		target, err := lfs.ReadLink(next)
		if err != nil {
			return "", err
		}
		target = filepath.ToSlash(target)
		if path.IsAbs(target) || filepath.IsAbs(target) || filepath.VolumeName(target) != "" {
			return "", errStaticEscape
		}
		// The target is relative to the link's directory, at: walk it
		// in place of the link.
		parts = append(strings.Split(target, "/"), parts...)
	}
	return at, nil
}

// openStatic opens what res points to, on the disk or in StaticFS, never
// outside a directory rule's directory (nor outside StaticFS), symbolic
// links included.
func (s *Server) openStatic(res staticResolved) (fs.File, error) {
	if strings.ContainsRune(res.dir+res.name, 0) {
		return nil, errStaticEscape // no file name holds a NUL
	}
	if fsys := s.cfg.StaticFS; fsys != nil {
		dir, name := ".", res.name
		if res.dir != "" {
			// Cleaned as a rooted path first, the rest of the URL cannot
			// climb out of the directory.
			dir, name = res.dir, strings.TrimPrefix(path.Clean("/"+res.name), "/")
		}
		dir, ok := fsName(dir)
		if !ok || !fs.ValidPath(path.Clean(path.Join(dir, name))) {
			return nil, fs.ErrNotExist
		}
		name, err := confineFS(fsys, dir, name)
		if err != nil {
			return nil, err
		}
		return fsys.Open(name)
	}
	if res.dir == "" {
		return os.Open(res.name)
	}
	// os.Root keeps the lookup inside the directory: no "..", no
	// symbolic link out of it.
	root, err := os.OpenRoot(res.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(filepath.FromSlash(strings.TrimPrefix(path.Clean("/"+res.name), "/")))
}

// serveStatic serves a static rule's file; it reports false when no rule
// matches or the rule's file does not exist, so that the request goes on
// to the wrapped handler (then 404).
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) bool {
	if len(s.cfg.StaticFiles) == 0 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	isDir := isDiskDir
	if s.cfg.StaticFS != nil {
		isDir = isFSDir(s.cfg.StaticFS)
	}
	res, ok := s.cfg.StaticFiles.resolve(r.URL.Path, isDir)
	if !ok {
		return false
	}
	f, err := s.openStatic(res)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return false // no such file: the wrapped application may have the path
		}
		if badStaticPath(err) {
			http.NotFound(w, r)
		} else {
			http.Error(w, "static file error", http.StatusInternalServerError)
		}
		return true
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return false
	}
	ct := res.contentType
	if ct == "" {
		ct = staticTypes[strings.ToLower(path.Ext(res.name))]
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if rs, ok := f.(io.ReadSeeker); ok {
		http.ServeContent(w, r, st.Name(), st.ModTime(), rs)
		return true
	}
	// A file system whose files cannot seek: no ranges, the whole file.
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, f)
	}
	return true
}
