// Package dashboard serves a live web page over mp's executors, queues and managers: which
// workers are alive, what each runs and for how long, how much memory it holds, why the last one
// was replaced, how fast tasks go, what failed and why, how deep the queues are and how fast
// values go through them, and how busy the managers are.
//
//	d := dashboard.New()
//	d.AddPool(pool)                  // any mp.Observer: *mp.Pool, *mp.GoroutinePool, mpnats's pool
//	d.AddQueue("jobs", q)
//	http.Handle("/debug/mp/", http.StripPrefix("/debug/mp", d.Handler()))
//
// or, in one call, dashboard.ListenAndServe(ctx, "127.0.0.1:8080", d).
//
// The pages are rendered on the server with html/template; charts are SVG drawn on the server; a
// few lines of script in the page swap in fresh fragments sent over Server-Sent Events. There is
// no JavaScript build step. GET api/snapshot returns the same state as JSON (mp top reads it),
// and GET metrics the Prometheus metrics of the same sources (names prefixed mp_).
//
// Cost: a program that does not import the package pays nothing. A Dashboard that was made but
// whose Handler was never called runs nothing and buffers nothing. Once Handler is called, each
// pool's completions feed a bounded history (two minutes of one-second buckets) through
// mp.Observer.Observe, and so do the Prometheus collectors behind GET metrics (package metrics:
// the duration and queue wait histograms); each open page holds one request goroutine that
// renders a fragment every 300ms. Close stops the subscriptions.
//
// Security: ListenAndServe serves on loopback without a token; any other address needs one
// (WithToken or WithRandomToken) and refuses to start without it. With a token, a request without
// it gets 401 (send it as "Authorization: Bearer TOKEN", or once as ?token=TOKEN, which sets a
// cookie). Actions (cancel a task, recycle a worker, pause or resume a pool) are POSTs carrying a
// per-dashboard CSRF token; cross-origin POSTs are refused, and WithReadOnly refuses every action
// with 403.
package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/mp-go/mp"
)

// Dashboard is the set of sources a dashboard shows, and its settings. Make one with New, add
// sources, and serve Handler. It is safe for concurrent use; sources may be added while it is
// served. It lives in the process that made it and is not passed to children. Its cost is in the
// package doc: nothing until Handler is called.
type Dashboard struct {
	o    options
	csrf string

	mu       sync.Mutex
	pools    []*poolSource
	queues   []queueSource
	managers []managerSource
	started  bool // Handler was called: pools are observed
	closed   bool
	handler  http.Handler
	prom     *promMetrics // the /metrics collectors, made with the handler
}

// Queue is what the dashboard reads of a queue: *mp.Queue[T] and *mp.JoinableQueue[T] have it,
// and a managed queue's proxy. A Queue that also has Stats() mp.QueueStats (*mp.Queue and
// *mp.JoinableQueue do) is shown with its totals of values put and got, and their rates.
type Queue interface {
	Len() int
	Cap() int
}

type poolSource struct {
	obs  mp.Observer
	ctl  mp.Controller // nil if the executor cannot be steered
	hist *history
	stop func()
}

type queueSource struct {
	name  string
	q     Queue
	rates *counterRates // puts, gets
}

type managerSource struct {
	name  string
	m     *mp.Manager
	rates *counterRates // operations
}

// New returns a Dashboard with no sources. It starts nothing.
func New(opts ...Option) *Dashboard {
	d := &Dashboard{o: defaults()}
	for _, o := range opts {
		o.apply(&d.o)
	}
	d.csrf = randomToken()
	return d
}

// AddPool adds an executor: its name is the one its snapshot gives. If it also implements
// mp.Controller, the pages offer its actions (cancel, recycle, pause, resume).
func (d *Dashboard) AddPool(p mp.Observer) {
	if p == nil {
		panic("dashboard: AddPool of a nil executor")
	}
	s := &poolSource{obs: p, hist: newHistory(d.o.now)}
	s.ctl, _ = p.(mp.Controller)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pools = append(d.pools, s)
	if d.started && !d.closed {
		s.stop = p.Observe(s.hist.record)
	}
	if d.prom != nil && !d.closed {
		d.prom.addPool(s)
	}
}

// AddQueue adds a queue under a name. The pages show its length and capacity and, for a queue
// with Stats (*mp.Queue, *mp.JoinableQueue), the values put and got, in all and per second (from
// the change between looks, over up to the last 10 seconds).
func (d *Dashboard) AddQueue(name string, q Queue) {
	if q == nil {
		panic("dashboard: AddQueue of a nil queue")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := queueSource{name, q, newCounterRates(d.o.now)}
	d.queues = append(d.queues, s)
	if d.prom != nil {
		d.prom.addQueue(s)
	}
}

// AddManager adds a manager under a name; the pages ask it for its objects, connections and
// operations (Manager.Stats) when they render.
func (d *Dashboard) AddManager(name string, m *mp.Manager) {
	if m == nil {
		panic("dashboard: AddManager of a nil manager")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := managerSource{name, m, newCounterRates(d.o.now)}
	d.managers = append(d.managers, s)
	if d.prom != nil {
		d.prom.addManager(s)
	}
}

// Handler returns the dashboard's HTTP handler, the same one on every call. Its first call
// subscribes to the pools' completions (the history behind the charts). Mount it under any
// prefix ending in a slash, with the prefix stripped:
//
//	mux.Handle("/mp/", http.StripPrefix("/mp", d.Handler()))
//
// Every link in the pages is relative.
func (d *Dashboard) Handler() http.Handler {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.handler == nil {
		if d.o.metrics == nil && !d.closed {
			d.prom = newPromMetrics()
			for _, s := range d.pools {
				d.prom.addPool(s)
			}
			for _, q := range d.queues {
				d.prom.addQueue(q)
			}
			for _, m := range d.managers {
				d.prom.addManager(m)
			}
		}
		d.handler = d.newHandler()
	}
	if !d.started && !d.closed {
		d.started = true
		for _, s := range d.pools {
			s.stop = s.obs.Observe(s.hist.record)
		}
	}
	return d.handler
}

// Close stops observing the pools. The handler keeps answering, with the history it has.
// Close is idempotent.
func (d *Dashboard) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.prom != nil {
		d.prom.close()
	}
	for _, s := range d.pools {
		if s.stop != nil {
			s.stop()
			s.stop = nil
		}
	}
	return nil
}

func (d *Dashboard) sources() ([]*poolSource, []queueSource, []managerSource) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*poolSource(nil), d.pools...), append([]queueSource(nil), d.queues...),
		append([]managerSource(nil), d.managers...)
}

// Option configures a Dashboard (New) or its server (ListenAndServe).
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	token       string
	randomToken bool
	readOnly    bool
	certFile    string
	keyFile     string
	log         io.Writer
	interval    time.Duration
	metrics     http.Handler
	now         func() time.Time
}

func defaults() options {
	return options{log: os.Stderr, interval: 300 * time.Millisecond, now: time.Now}
}

// WithToken requires token on every request: as "Authorization: Bearer TOKEN", or as ?token=TOKEN
// once, which sets a cookie. An empty token panics.
func WithToken(token string) Option {
	if token == "" {
		panic("dashboard: WithToken of an empty token (use WithRandomToken for a generated one)")
	}
	return optionFunc(func(o *options) { o.token = token })
}

// WithRandomToken has ListenAndServe make a random token and print the URL carrying it (to the
// WithLog writer, standard error by default), as Jupyter does.
func WithRandomToken() Option { return optionFunc(func(o *options) { o.randomToken = true }) }

// WithReadOnly hides the actions and refuses their POSTs with 403.
func WithReadOnly() Option { return optionFunc(func(o *options) { o.readOnly = true }) }

// WithTLS has ListenAndServe serve HTTPS with the certificate and key in these PEM files.
func WithTLS(certFile, keyFile string) Option {
	return optionFunc(func(o *options) { o.certFile, o.keyFile = certFile, keyFile })
}

// WithLog sets where ListenAndServe prints the address it serves (with the token, if random).
// Nil discards it. The default is standard error.
func WithLog(w io.Writer) Option {
	return optionFunc(func(o *options) {
		if w == nil {
			w = io.Discard
		}
		o.log = w
	})
}

// WithMetrics mounts h at "metrics" instead of the dashboard's own Prometheus handler (package
// metrics's collectors over the dashboard's sources, in a registry of their own); for example
// promhttp.HandlerFor(yourRegistry, promhttp.HandlerOpts{}). It is behind the same token.
func WithMetrics(h http.Handler) Option { return optionFunc(func(o *options) { o.metrics = h }) }

// WithInterval sets how often an open page is refreshed (default 300ms; at least 50ms).
func WithInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.interval = max(d, 50*time.Millisecond) })
}

func randomToken() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("dashboard: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// ErrNoToken is returned by ListenAndServe for a non-loopback address without WithToken or
// WithRandomToken.
var ErrNoToken = errors.New("dashboard: serving on a non-loopback address needs a token: pass dashboard.WithToken or dashboard.WithRandomToken, or listen on 127.0.0.1")

// ListenAndServe serves d's handler at addr ("127.0.0.1:8080"; "127.0.0.1:0" picks a port) until
// ctx ends, then shuts the server down (open pages are closed) and returns nil. On an address
// that is not loopback it needs a token (ErrNoToken otherwise). The options add to d's; it prints
// the URL it serves to the WithLog writer. It closes d's subscriptions when it returns. The
// options change d: give them before d is served anywhere else.
func ListenAndServe(ctx context.Context, addr string, d *Dashboard, opts ...Option) error {
	for _, o := range opts {
		o.apply(&d.o)
	}
	return d.listenAndServe(ctx, addr)
}

// String describes the dashboard by the number of its sources.
func (d *Dashboard) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("dashboard(%d pools, %d queues, %d managers)", len(d.pools), len(d.queues), len(d.managers))
}
