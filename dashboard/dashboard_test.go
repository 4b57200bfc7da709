package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/dashboard"
)

// stubPool is an mp.Observer and mp.Controller whose state the test sets, for the HTTP tests
// that do not need worker processes (those are in browser_test.go, against real pools).
type stubPool struct {
	mu       sync.Mutex
	snap     mp.PoolSnapshot
	fns      map[int]func(mp.TaskEvent)
	next     int
	observed int
	paused   int
	resumed  int
	canceled []uint64
	recycled []int
}

func newStub(name string) *stubPool {
	return &stubPool{snap: mp.PoolSnapshot{Name: name, Kind: "stub", Size: 1,
		Workers: []mp.WorkerSnapshot{{Pid: 4242, ID: 1, State: "idle"}}}, fns: map[int]func(mp.TaskEvent){}}
}

func (s *stubPool) Snapshot() mp.PoolSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.snap
	snap.Workers = append([]mp.WorkerSnapshot(nil), s.snap.Workers...)
	return snap
}

func (s *stubPool) set(f func(*mp.PoolSnapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.snap)
}

func (s *stubPool) Observe(fn func(mp.TaskEvent)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observed++
	id := s.next
	s.next++
	s.fns[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.fns, id)
	}
}

func (s *stubPool) emit(ev mp.TaskEvent) {
	s.mu.Lock()
	fns := make([]func(mp.TaskEvent), 0, len(s.fns))
	for _, f := range s.fns {
		fns = append(fns, f)
	}
	s.mu.Unlock()
	for _, f := range fns {
		f(ev)
	}
}

func (s *stubPool) subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fns)
}

func (s *stubPool) CancelTask(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != 7 {
		return fmt.Errorf("%w: stub task %d", mp.ErrNotFound, id)
	}
	s.canceled = append(s.canceled, id)
	return nil
}

func (s *stubPool) Recycle(id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recycled = append(s.recycled, id)
	return nil
}

func (s *stubPool) Pause()  { s.mu.Lock(); s.paused++; s.mu.Unlock() }
func (s *stubPool) Resume() { s.mu.Lock(); s.resumed++; s.mu.Unlock() }

func serve(t *testing.T, d *dashboard.Dashboard) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.StripPrefix("/mp", d.Handler()))
	t.Cleanup(func() { srv.Close(); d.Close() })
	return srv
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// TestZeroCostUntilHandler checks that a Dashboard subscribes to nothing until its Handler is
// made, and that Close unsubscribes.
func TestZeroCostUntilHandler(t *testing.T) {
	p := newStub("a")
	d := dashboard.New()
	d.AddPool(p)
	if p.observed != 0 {
		t.Fatalf("New+AddPool subscribed %d times; want 0 before Handler", p.observed)
	}
	d.Handler()
	d.Handler()
	// Two: the charts' history, and the histograms behind /metrics.
	if p.subscribers() != 2 {
		t.Fatalf("after Handler: %d subscribers, want 2", p.subscribers())
	}
	q := newStub("b")
	d.AddPool(q)
	if q.subscribers() != 2 {
		t.Fatalf("a pool added after Handler: %d subscribers, want 2", q.subscribers())
	}
	d.Close()
	if p.subscribers() != 0 || q.subscribers() != 0 {
		t.Fatalf("after Close: %d and %d subscribers, want 0", p.subscribers(), q.subscribers())
	}

	// With a real executor: neither making the dashboard nor its handler starts a goroutine.
	gp, err := mp.NewGoroutinePool(context.Background(), mp.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer gp.Close()
	before := runtime.NumGoroutine()
	d = dashboard.New()
	d.AddPool(gp)
	d.AddQueue("q", fixedQueue{0, 1})
	d.Handler()
	// Fewer is another test's goroutine ending meanwhile; more would be the dashboard's.
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("New, AddPool and Handler took the goroutines from %d to %d", before, after)
	}
	d.Close()
}

func TestPagesAndLinks(t *testing.T) {
	p := newStub("alpha")
	d := dashboard.New()
	d.AddPool(p)
	d.AddQueue("jobs", fixedQueue{3, 10})
	srv := serve(t, d)
	for _, path := range []string{"", "pools", "failures", "maps", "queues", "managers", "cluster"} {
		resp, body := get(t, srv.Client(), srv.URL+"/mp/"+path)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /mp/%s: %s", path, resp.Status)
		}
		// Every link and form target is relative, so the handler works under any prefix.
		for _, m := range regexp.MustCompile(`(?:href|src|action)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
			if strings.HasPrefix(m[1], "/") || strings.Contains(m[1], "://") {
				t.Errorf("GET /mp/%s: absolute link %q", path, m[1])
			}
		}
	}
	p.set(func(s *mp.PoolSnapshot) {
		s.ExitCounts = map[mp.ExitReason]uint64{mp.ExitSignal: 70, mp.ExitMaxTasks: 5, mp.ExitShutdown: 2}
	})
	_, body := get(t, srv.Client(), srv.URL+"/mp/")
	if !strings.Contains(body, "75 restarts") {
		t.Errorf("workers page does not count 75 restarts (every end but shutdowns):\n%s", body)
	}
	if !strings.Contains(body, `data-pid="4242"`) || !strings.Contains(body, "alpha") {
		t.Fatalf("workers page lacks the stub's worker:\n%s", body)
	}
	p.set(func(s *mp.PoolSnapshot) {
		s.Cluster = &mp.ClusterSnapshot{Redelivered: 3, PendingAcks: 2, Agents: []mp.AgentSnapshot{
			{Name: "agent-a", Host: "h1", Pid: 99, Slots: 4, Busy: 1, LastBeat: time.Now(), Lost: true}}}
	})
	_, body = get(t, srv.Client(), srv.URL+"/mp/cluster")
	if !strings.Contains(body, "agent-a") || !strings.Contains(body, "redelivered 3") || !strings.Contains(body, ">lost<") {
		t.Fatalf("cluster page lacks the agent:\n%s", body)
	}
	_, body = get(t, srv.Client(), srv.URL+"/mp/queues")
	if !strings.Contains(body, "jobs") || !strings.Contains(body, "30%") {
		t.Fatalf("queues page lacks jobs at 30%%:\n%s", body)
	}
	if resp, _ := get(t, srv.Client(), srv.URL+"/mp/nope"); resp.StatusCode != 404 {
		t.Fatalf("GET /mp/nope: %s, want 404", resp.Status)
	}
}

type fixedQueue struct{ n, c int }

func (q fixedQueue) Len() int { return q.n }
func (q fixedQueue) Cap() int { return q.c }

// TestSnapshotJSON checks the shape mp top reads: exactly time, pools, queues, managers.
func TestSnapshotJSON(t *testing.T) {
	p := newStub("alpha")
	d := dashboard.New()
	d.AddPool(p)
	d.AddQueue("jobs", fixedQueue{1, 2})
	srv := serve(t, d)
	resp, body := get(t, srv.Client(), srv.URL+"/mp/api/snapshot")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &top); err != nil {
		t.Fatal(err)
	}
	if len(top) != 4 || top["time"] == nil || top["pools"] == nil || top["queues"] == nil || top["managers"] == nil {
		t.Fatalf("keys of %s", body)
	}
	var ts string
	json.Unmarshal(top["time"], &ts)
	if _, err := time.Parse(time.RFC3339, ts); err != nil || strings.Contains(ts, ".") {
		t.Fatalf("time %q is not RFC 3339 to the second: %v", ts, err)
	}
	var s struct {
		Pools []struct {
			Name    string `json:"name"`
			Workers []struct {
				Pid int `json:"pid"`
			} `json:"workers"`
		} `json:"pools"`
		Queues   []map[string]any `json:"queues"`
		Managers []map[string]any `json:"managers"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Pools) != 1 || s.Pools[0].Name != "alpha" || s.Pools[0].Workers[0].Pid != 4242 {
		t.Fatalf("pools: %+v", s.Pools)
	}
	if len(s.Queues) != 1 || s.Queues[0]["name"] != "jobs" || s.Queues[0]["len"] != 1.0 || s.Queues[0]["cap"] != 2.0 || s.Queues[0]["puts"] != 0.0 || s.Queues[0]["gets"] != 0.0 || len(s.Queues[0]) != 5 {
		t.Fatalf("queues: %v", s.Queues)
	}
	if s.Managers == nil || len(s.Managers) != 0 {
		t.Fatalf("managers: %v, want []", s.Managers)
	}
}

func TestToken(t *testing.T) {
	d := dashboard.New(dashboard.WithToken("s3cret"))
	d.AddPool(newStub("alpha"))
	srv := serve(t, d)
	noRedirect := *srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, path := range []string{"", "pools", "api/snapshot", "events?view=", "live.js", "metrics"} {
		if resp, _ := get(t, &noRedirect, srv.URL+"/mp/"+path); resp.StatusCode != 401 {
			t.Fatalf("GET %s without a token: %s, want 401", path, resp.Status)
		}
	}
	if resp, _ := get(t, &noRedirect, srv.URL+"/mp/", "Authorization", "Bearer wrong"); resp.StatusCode != 401 {
		t.Fatalf("wrong bearer: %s", resp.Status)
	}
	if resp, _ := get(t, &noRedirect, srv.URL+"/mp/pools?token=wrong"); resp.StatusCode != 401 {
		t.Fatalf("wrong ?token: %s", resp.Status)
	}
	if resp, _ := get(t, &noRedirect, srv.URL+"/mp/api/snapshot", "Authorization", "Bearer s3cret"); resp.StatusCode != 200 {
		t.Fatalf("bearer: %s", resp.Status)
	}
	resp, _ := get(t, &noRedirect, srv.URL+"/mp/pools?token=s3cret")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "./pools" {
		t.Fatalf("?token=: %s to %q, want 303 to ./pools", resp.Status, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		cookie = c
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", cookie)
	}
	if resp, _ := get(t, &noRedirect, srv.URL+"/mp/pools", "Cookie", cookie.String()); resp.StatusCode != 200 {
		t.Fatalf("with the cookie: %s", resp.Status)
	}
}

func post(t *testing.T, c *http.Client, u string, form url.Values, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestActions(t *testing.T) {
	p := newStub("alpha")
	p.set(func(s *mp.PoolSnapshot) {
		s.Workers[0].State, s.Workers[0].Task, s.Workers[0].TaskID, s.Workers[0].TaskStarted = "busy", "t.sleep", 7, time.Now()
	})
	d := dashboard.New()
	d.AddPool(p)
	srv := serve(t, d)
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	_, body := get(t, &c, srv.URL+"/mp/")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `data-task="7"`) {
		t.Fatalf("no CSRF token or cancel button in:\n%s", body)
	}
	csrf := m[1]
	origin := "Origin"
	self := srv.URL
	cases := []struct {
		name   string
		path   string
		form   url.Values
		hdr    []string
		status int
	}{
		{"no csrf", "pause", url.Values{"pool": {"0"}}, []string{origin, self}, 403},
		{"wrong csrf", "pause", url.Values{"pool": {"0"}, "csrf": {strings.Repeat("0", len(csrf))}}, []string{origin, self}, 403},
		{"cross origin", "pause", url.Values{"pool": {"0"}, "csrf": {csrf}}, []string{origin, "http://evil.example"}, 403},
		{"cross referer", "pause", url.Values{"pool": {"0"}, "csrf": {csrf}}, []string{"Referer", "http://evil.example/x"}, 403},
		{"no origin", "pause", url.Values{"pool": {"0"}, "csrf": {csrf}}, nil, 403},
		{"bad pool", "pause", url.Values{"pool": {"9"}, "csrf": {csrf}}, []string{origin, self}, 400},
		{"unknown task", "cancel", url.Values{"pool": {"0"}, "task": {"8"}, "csrf": {csrf}}, []string{origin, self}, 400},
		{"pause", "pause", url.Values{"pool": {"0"}, "csrf": {csrf}, "back": {"pools"}}, []string{origin, self}, 303},
		{"resume", "resume", url.Values{"pool": {"0"}, "csrf": {csrf}}, []string{"Referer", self + "/mp/pools"}, 303},
		{"cancel", "cancel", url.Values{"pool": {"0"}, "task": {"7"}, "csrf": {csrf}}, []string{origin, self}, 303},
		{"recycle", "recycle", url.Values{"pool": {"0"}, "worker": {"1"}, "csrf": {csrf}}, []string{origin, self}, 303},
	}
	for _, tc := range cases {
		if resp := post(t, &c, srv.URL+"/mp/"+tc.path, tc.form, tc.hdr...); resp.StatusCode != tc.status {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.status)
		}
	}
	if resp, _ := get(t, &c, srv.URL+"/mp/pause"); resp.StatusCode != 405 {
		t.Errorf("GET pause: %s, want 405", resp.Status)
	}
	if p.paused != 1 || p.resumed != 1 || len(p.canceled) != 1 || len(p.recycled) != 1 || p.recycled[0] != 1 {
		t.Fatalf("paused %d resumed %d canceled %v recycled %v", p.paused, p.resumed, p.canceled, p.recycled)
	}

	ro := dashboard.New(dashboard.WithReadOnly())
	ro.AddPool(p)
	srv2 := serve(t, ro)
	_, body = get(t, srv2.Client(), srv2.URL+"/mp/")
	if strings.Contains(body, "<form") {
		t.Fatalf("read-only page shows actions:\n%s", body)
	}
	if resp := post(t, &c, srv2.URL+"/mp/pause", url.Values{"pool": {"0"}, "csrf": {csrf}}, origin, srv2.URL); resp.StatusCode != 403 {
		t.Fatalf("read-only pause: %s, want 403", resp.Status)
	}
}

// TestEvents reads the Server-Sent Events stream of the workers view and sees a change of the
// pool in the next message.
func TestEvents(t *testing.T) {
	p := newStub("alpha")
	d := dashboard.New(dashboard.WithInterval(50 * time.Millisecond))
	d.AddPool(p)
	srv := serve(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/mp/events?view=", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	next := func() string {
		var msg bytes.Buffer
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading events: %v", err)
			}
			if line == "\n" {
				return msg.String()
			}
			msg.WriteString(strings.TrimPrefix(line, "data: "))
		}
	}
	if m := next(); !strings.Contains(m, `data-pid="4242"`) {
		t.Fatalf("first event lacks the worker:\n%s", m)
	}
	start := time.Now()
	p.set(func(s *mp.PoolSnapshot) { s.Workers[0].Pid = 5151 })
	if m := next(); !strings.Contains(m, `data-pid="5151"`) {
		t.Fatalf("next event lacks the change:\n%s", m)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("the change took %v to arrive", el)
	}
	if resp, _ := get(t, srv.Client(), srv.URL+"/mp/events?view=nope"); resp.StatusCode != 404 {
		t.Fatalf("unknown view: %s", resp.Status)
	}
}

// TestPoolsChart feeds completions through Observe and finds them in the pools view's numbers.
func TestPoolsChart(t *testing.T) {
	p := newStub("alpha")
	d := dashboard.New()
	d.AddPool(p)
	srv := serve(t, d)
	for i := range 100 {
		p.emit(mp.TaskEvent{Task: "t", Outcome: "ok", Ran: time.Duration(i+1) * time.Millisecond, Queued: time.Millisecond})
	}
	// The chart shows complete seconds: wait for the one the events fell in to end.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := get(t, srv.Client(), srv.URL+"/mp/pools")
		if strings.Contains(body, "100 calls") {
			if !strings.Contains(body, "<svg") || !strings.Contains(body, "<polyline") {
				t.Fatalf("no chart:\n%s", body)
			}
			// p50 of 1..100ms is about 50ms; buckets are a quarter octave wide.
			m := regexp.MustCompile(`p50 ([0-9.]+)ms`).FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no p50 in:\n%s", body)
			}
			var v float64
			json.Unmarshal([]byte(m[1]), &v)
			if v < 38 || v > 52 {
				t.Fatalf("p50 %vms, want about 50ms", v)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 100 completions never showed:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestListenAndServe(t *testing.T) {
	d := dashboard.New()
	err := dashboard.ListenAndServe(context.Background(), "0.0.0.0:0", d, dashboard.WithLog(nil))
	if !errors.Is(err, dashboard.ErrNoToken) {
		t.Fatalf("non-loopback without a token: %v, want ErrNoToken", err)
	}
	if err := dashboard.ListenAndServe(context.Background(), "nonsense", d); err == nil {
		t.Fatal("a bad address served")
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d = dashboard.New()
	d.AddPool(newStub("alpha"))
	done := make(chan error, 1)
	go func() {
		done <- dashboard.ListenAndServe(ctx, "127.0.0.1:0", d, dashboard.WithRandomToken(), dashboard.WithLog(pw))
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`(http://127\.0\.0\.1:\d+/)\?token=([0-9a-f]+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("printed %q, want a URL with a token", line)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	if resp, _ := get(t, c, m[1]); resp.StatusCode != 401 {
		t.Fatalf("without the token: %s", resp.Status)
	}
	jar := &cookieJar{}
	c.Jar = jar
	if resp, body := get(t, c, m[0]); resp.StatusCode != 200 || !strings.Contains(body, "alpha") {
		t.Fatalf("with the printed URL: %s", resp.Status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after its context ended")
	}
	pw.Close()
}

type cookieJar struct {
	mu sync.Mutex
	c  []*http.Cookie
}

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.c = append(j.c, cs...)
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.c
}

// TestTLS serves over HTTPS with a self-signed certificate made here, and checks the token is
// still asked for.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)

	if err := dashboard.ListenAndServe(context.Background(), "127.0.0.1:0", dashboard.New(), dashboard.WithTLS(certFile, "")); err == nil {
		t.Fatal("WithTLS without a key served")
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := dashboard.New(dashboard.WithToken("tls-token"), dashboard.WithTLS(certFile, keyFile), dashboard.WithLog(pw))
	done := make(chan error, 1)
	go func() { done <- dashboard.ListenAndServe(ctx, "127.0.0.1:0", d) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	u := regexp.MustCompile(`https://127\.0\.0\.1:\d+/`).FindString(line)
	if u == "" {
		t.Fatalf("printed %q, want an https URL", line)
	}
	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	if resp, _ := get(t, c, u+"api/snapshot"); resp.StatusCode != 401 {
		t.Fatalf("https without the token: %s", resp.Status)
	}
	if resp, _ := get(t, c, u+"api/snapshot", "Authorization", "Bearer tls-token"); resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("https with the token: %s", resp.Status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pw.Close()
}

// BenchmarkRender renders the two views an open page refreshes most, over a stub pool of 8 busy
// workers with a full history: what one page costs per refresh (every 300ms by default).
func BenchmarkRender(b *testing.B) {
	p := newStub("alpha")
	p.set(func(s *mp.PoolSnapshot) {
		s.Workers = nil
		for i := range 8 {
			s.Workers = append(s.Workers, mp.WorkerSnapshot{Pid: 1000 + i, ID: i + 1, State: "busy", Task: "t.work",
				TaskID: uint64(i), TaskStarted: time.Now(), RSS: 20 << 20})
		}
	})
	d := dashboard.New()
	d.AddPool(p)
	h := d.Handler()
	defer d.Close()
	for i := range 5000 {
		p.emit(mp.TaskEvent{Task: "t", Outcome: "ok", Ran: time.Duration(i) * time.Microsecond})
	}
	for _, path := range []string{"/", "/pools"} {
		b.Run(strings.TrimPrefix(path, "/")+"view", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// TestMetrics reads the dashboard's Prometheus metrics, and a handler of the program's own in
// their place with WithMetrics.
func TestMetrics(t *testing.T) {
	d := dashboard.New()
	d.AddPool(newStub("alpha"))
	d.AddQueue("jobs", fixedQueue{3, 10})
	srv := serve(t, d)
	resp, body := get(t, srv.Client(), srv.URL+"/mp/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("GET metrics: %s", resp.Status)
	}
	for _, want := range []string{`mp_pool_size{pool="alpha"} 1`, `mp_queue_length{queue="jobs"} 3`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
	for _, l := range strings.Split(body, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "mp_") {
			t.Errorf("metric not prefixed mp_: %s", l)
		}
	}

	own := dashboard.New(dashboard.WithMetrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "mp_own 1\n")
	})))
	srv2 := serve(t, own)
	if _, body := get(t, srv2.Client(), srv2.URL+"/mp/metrics"); body != "mp_own 1\n" {
		t.Fatalf("WithMetrics: served %q", body)
	}
}

// TestQueueAndManagerRates: the queues page shows a real queue's totals and its put and get
// rates, from two looks; the managers page a real manager's operations and their rate; the
// snapshot carries puts, gets and ops.
func TestQueueAndManagerRates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q, err := mp.NewQueue[int](0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m, err := mp.StartManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dict, err := mp.NewDict[string, int](ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	d := dashboard.New()
	d.AddQueue("jobs", q)
	d.AddQueue("sized", fixedQueue{3, 10}) // no Stats: its totals are not shown
	d.AddManager("state", m)
	srv := serve(t, d)
	// The first look: no rate yet.
	_, body := get(t, srv.Client(), srv.URL+"/mp/queues")
	row := regexp.MustCompile(`(?s)<tr data-queue="jobs">.*?</tr>`)
	if r := row.FindString(body); !strings.Contains(r, `class="n putrate">—<`) || !strings.Contains(r, `class="n puts">0<`) {
		t.Fatalf("first look at the queue: %s", r)
	}
	get(t, srv.Client(), srv.URL+"/mp/managers")
	for i := range 50 {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		if _, err := q.Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		if err := dict.Set(ctx, "k", i); err != nil {
			t.Fatal(err)
		}
	}
	rates := regexp.MustCompile(`class="n putrate">([0-9.]+)/s<.*class="n getrate">([0-9.]+)/s<`)
	var putRate, getRate float64
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body = get(t, srv.Client(), srv.URL+"/mp/queues")
		if m := rates.FindStringSubmatch(row.FindString(body)); m != nil {
			putRate, _ = strconv.ParseFloat(m[1], 64)
			getRate, _ = strconv.ParseFloat(m[2], 64)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rates on the queues page after 10s:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond) // a rate needs time between two looks
	}
	r := row.FindString(body)
	if !strings.Contains(r, `class="n puts">50<`) || !strings.Contains(r, `class="n gets">20<`) {
		t.Fatalf("queue row after 50 puts and 20 gets: %s", r)
	}
	// Both rates span the same looks: 50 puts to 20 gets (to the rounding of one decimal).
	if getRate <= 0 || putRate/getRate < 2.3 || putRate/getRate > 2.7 {
		t.Fatalf("rates %v puts/s and %v gets/s; want them 5 to 2", putRate, getRate)
	}
	if sized := regexp.MustCompile(`(?s)<tr data-queue="sized">.*?</tr>`).FindString(body); strings.Contains(sized, "/s<") || !strings.Contains(sized, ">3<") {
		t.Fatalf("a queue without Stats: %s", sized)
	}
	opsRate := regexp.MustCompile(`class="n opsrate">([0-9.]+)/s<`)
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body = get(t, srv.Client(), srv.URL+"/mp/managers")
		if m := opsRate.FindStringSubmatch(body); m != nil {
			if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
				t.Fatalf("ops/s %s after 30 Sets:\n%s", m[1], body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ops/s on the managers page after 10s:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := m.Stats(ctx)
	if err != nil || st.Ops < 30 {
		t.Fatalf("manager Stats %+v, %v; want at least 30 operations", st, err)
	}
	if !strings.Contains(body, fmt.Sprintf(`class="n ops">%d<`, st.Ops)) {
		t.Fatalf("managers page lacks ops %d:\n%s", st.Ops, body)
	}
	snap := d.Snapshot(ctx)
	if len(snap.Queues) != 2 || snap.Queues[0].Puts != 50 || snap.Queues[0].Gets != 20 || snap.Queues[1].Puts != 0 {
		t.Fatalf("snapshot queues: %+v", snap.Queues)
	}
	if len(snap.Managers) != 1 || snap.Managers[0].Ops != st.Ops {
		t.Fatalf("snapshot managers: %+v; want ops %d", snap.Managers, st.Ops)
	}
}
