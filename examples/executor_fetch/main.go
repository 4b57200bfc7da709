// Command executor_fetch fetches web pages on a pool of ten workers, one of which hangs. Run it and
// each worker prints the page it fetched; the slow page's task is stopped by its timeout, and the
// main process reports, for every page, its status, size and SHA-256 checked against what the
// server sent, and that every other page was back long before the slow one gave up: each fetch
// runs in its own process, and none waits for another.
//
// It mirrors Python's
//
//	pool = ProcessPoolExecutor(10)
//	for url in url_list:
//	    pool.submit(fetch_request, url)
//	pool.shutdown(wait=True)
//
// where one of the URLs never answers. This program never touches the internet: it serves its
// pages from a local HTTP server it starts itself (net/http/httptest), with one of them, the
// "google" page, slow on purpose. The slow page is bounded with mp.WithTaskTimeout: its task's
// context is cancelled, which aborts the request in the worker.
//
//	go run ./examples/executor_fetch
//	go run ./examples/executor_fetch -n 20 -timeout 300ms
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mp-go/mp"
)

// Page is what a worker reports about the page it fetched.
type Page struct {
	URL    string
	Status int
	Size   int
	SHA256 string
	Title  string
	Pid    int
	Took   time.Duration
}

// FetchRequest is Python's fetch_request(url): get the page, print what came back (a line, not
// the whole text), and return it.
var FetchRequest = mp.Register("executor_fetch.fetch_request", func(ctx context.Context, url string) (Page, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Page{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Page{}, err
	}
	sum := sha256.Sum256(body)
	p := Page{
		URL: url, Status: resp.StatusCode, Size: len(body), SHA256: hex.EncodeToString(sum[:8]),
		Title: title(string(body)), Pid: os.Getpid(), Took: time.Since(start),
	}
	fmt.Printf("worker pid=%d: %s -> %d, %d bytes, %q\n", p.Pid, strings.TrimPrefix(url, serverBase(url)), p.Status, p.Size, p.Title)
	return p, nil
})

// serverBase returns the scheme and host of url, to print the path only.
func serverBase(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		if j := strings.IndexByte(url[i+3:], '/'); j >= 0 {
			return url[:i+3+j]
		}
	}
	return ""
}

// title returns the text of a page's <title>.
func title(body string) string {
	_, rest, ok := strings.Cut(body, "<title>")
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(rest, "</title>")
	return t
}

// site is the local server: it serves a page of a fixed size for each path, the slow one after a
// delay, and records what it sent.
type site struct {
	slowPath string
	delay    time.Duration

	mu   sync.Mutex
	sent map[string]string // path -> "size sha256"
}

// page returns the body served for path: an HTML page of 1000 to 9000 bytes, different for
// every path.
func page(path string) []byte {
	h := sha256.Sum256([]byte(path))
	size := 1000 + (int(h[0])<<8|int(h[1]))%8000
	head := fmt.Sprintf("<html><head><title>%s (a local copy)</title></head><body>\n", strings.Trim(path, "/"))
	tail := "\n</body></html>\n"
	var b strings.Builder
	b.WriteString(head)
	for i := 0; b.Len() < size-len(tail); i++ {
		fmt.Fprintf(&b, "line %d of %s\n", i, path)
	}
	s := b.String()[:size-len(tail)] + tail
	return []byte(s)
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == s.slowPath {
		// The page "gets stuck": nothing comes back until the client gives up.
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			fmt.Printf("server: %s: the client gave up after waiting\n", r.URL.Path)
			return
		}
	}
	body := page(r.URL.Path)
	sum := sha256.Sum256(body)
	s.mu.Lock()
	s.sent[r.URL.Path] = fmt.Sprintf("%d %s", len(body), hex.EncodeToString(sum[:8]))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(body)
}

func main() {
	mp.Init()
	defer mp.Cleanup()

	n := flag.Int("n", 5, "pages to fetch besides the first three")
	timeout := flag.Duration("timeout", 2*time.Second, "how long a fetch may take; the slow page takes longer")
	flag.Parse()
	ctx := context.Background()

	s := &site{slowPath: "/www.google.com/", delay: 10 * *timeout, sent: map[string]string{}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	paths := []string{"/www.baidu.com", "/www.google.com/", "/dig.chouti.com/"} // url_list
	for i := range *n {
		paths = append(paths, fmt.Sprintf("/page/%d", i+1))
	}
	fmt.Printf("main process pid=%d; local server %s; %d pages, %s hangs\n", os.Getpid(), srv.URL, len(paths), s.slowPath)

	pool, err := mp.NewPool(ctx, mp.WithWorkers(10)) // pool = ProcessPoolExecutor(10)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	type fetch struct {
		path string
		fut  *mp.Future[Page]
		at   time.Duration // when the main process had its result
	}
	fetches := make([]*fetch, len(paths))
	var mu sync.Mutex
	for i, path := range paths {
		f := &fetch{path: path}
		f.fut = mp.Submit(ctx, pool, FetchRequest, srv.URL+path, mp.WithTaskTimeout(*timeout)) // pool.submit(fetch_request, url)
		f.fut.OnDone(func(Page, error) {
			mu.Lock()
			f.at = time.Since(start)
			mu.Unlock()
		})
		fetches[i] = f
	}
	if err := pool.Shutdown(ctx); err != nil { // pool.shutdown(wait=True)
		log.Fatal(err)
	}
	fmt.Printf("main: shutdown(wait=True) returned after %dms\n", time.Since(start).Milliseconds())

	ok, failed := 0, 0
	var slowest time.Duration
	for _, f := range fetches {
		p, err := f.fut.Wait(ctx)
		mu.Lock()
		at := f.at
		mu.Unlock()
		if err != nil {
			failed++
			fmt.Printf("main: %s failed after %dms: %v (deadline exceeded: %t)\n", f.path, at.Milliseconds(), err, errors.Is(err, context.DeadlineExceeded))
			continue
		}
		ok++
		slowest = max(slowest, at)
		s.mu.Lock()
		sent := s.sent[f.path]
		s.mu.Unlock()
		got := fmt.Sprintf("%d %s", p.Size, p.SHA256)
		fmt.Printf("main: %s: status %d, %d bytes, sha256 %s, from pid=%d after %dms; the server sent %s: match=%t\n",
			f.path, p.Status, p.Size, p.SHA256, p.Pid, at.Milliseconds(), sent, sent == got)
	}
	fmt.Printf("main: %d pages fetched, %d failed; every fetched page was back after %dms, without waiting for the slow one\n",
		ok, failed, slowest.Milliseconds())
}
