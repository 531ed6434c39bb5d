package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// MemPath is where a node under test answers memory reports (MemHandler;
// js/fixtures/bench-server.mjs answers the same path for Node).
const MemPath = "/debug/siobench/mem"

// MemReport is a server's memory after a forced garbage collection, as
// MemHandler (or the Node fixture) reports it. Heap, Stacks and Other
// add up to RSS: Other is everything resident that is neither (runtime
// metadata, the binary's code and data, the kernel's view of pages the
// runtime has not split out).
type MemReport struct {
	// Runtime names the server: "go" or "node".
	Runtime string `json:"runtime"`
	// RSS is VmRSS after the collection, bytes.
	RSS int64 `json:"rss_bytes"`
	// Heap is the heap in use (objects and the unused tails of their
	// spans; Node: heapTotal), bytes.
	Heap int64 `json:"heap_bytes"`
	// HeapLive is the bytes of live objects (Node: heapUsed).
	HeapLive int64 `json:"heap_live_bytes"`
	// HeapFree is heap memory free but still held from the OS (after
	// debug.FreeOSMemory it is about 0).
	HeapFree int64 `json:"heap_free_bytes"`
	// Stacks is goroutine stacks (Go; 0 for Node), bytes.
	Stacks int64 `json:"stacks_bytes"`
	// Other is RSS - Heap - HeapFree - Stacks.
	Other int64 `json:"other_bytes"`
	// Goroutines is the number of goroutines (Go; 0 for Node).
	Goroutines int64 `json:"goroutines"`
	// GCMillis is how long the forced collection took.
	GCMillis float64 `json:"gc_ms"`
}

// MemHandler answers GET MemPath with a MemReport of this process as
// JSON, after two forced collections, the second returning free memory
// to the OS (debug.FreeOSMemory): what the process needs to hold its
// state, not the garbage it has not collected yet. Heap includes the
// runtime's cache of the goroutine descriptors it ever had at once (about
// 480 bytes each, never freed). It is a debugging aid for the
// node under test: it stops the world for the collection.
func MemHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Two cycles, as the Node fixture's two gc() calls: the second
		// also empties what sync.Pools kept through the first.
		runtime.GC()
		debug.FreeOSMemory()
		took := time.Since(start)
		rep := ReadMem()
		rep.GCMillis = float64(took) / float64(time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	})
}

// ReadMem reads this process's memory split from runtime/metrics and
// /proc/self/status, without collecting first.
func ReadMem() MemReport {
	names := []string{
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/free:bytes",
		"/memory/classes/heap/stacks:bytes",
		"/memory/classes/os-stacks:bytes",
		"/sched/goroutines:goroutines",
	}
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	v := func(i int) int64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	rep := MemReport{
		Runtime:    "go",
		HeapLive:   v(0),
		Heap:       v(0) + v(1),
		HeapFree:   v(2),
		Stacks:     v(3) + v(4),
		Goroutines: v(5),
	}
	if p, err := ReadProc(os.Getpid()); err == nil {
		rep.RSS = p.RSS
	}
	rep.Other = rep.RSS - rep.Heap - rep.HeapFree - rep.Stacks
	return rep
}

// FetchMem asks the server at addr (host:port) for its MemReport.
func FetchMem(addr string, timeout time.Duration) (MemReport, error) {
	var rep MemReport
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get("http://" + addr + MemPath)
	if err != nil {
		return rep, fmt.Errorf("bench: memory report of %s: %w (start the node with its memory endpoint: benchnode serves it, node bench-server.mjs needs --expose-gc)", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return rep, err
	}
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("bench: memory report of %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return rep, fmt.Errorf("bench: memory report of %s: %w", addr, err)
	}
	return rep, nil
}

// WithMem serves MemHandler at MemPath and h everywhere else.
func WithMem(h http.Handler) http.Handler {
	mem := MemHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == MemPath {
			mem.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// kibString formats bytes as KiB with one decimal.
func kibString(b float64) string { return strconv.FormatFloat(b/1024, 'f', 1, 64) }
