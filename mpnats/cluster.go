// Package mpnats runs mp's pools across machines on NATS JetStream.
//
// A Cluster is a connection to a NATS server with JetStream: one this process embeds (Start), or
// an existing one (Connect). On it, NewPool makes an mp.Executor whose calls run on worker agents
// (Serve): the same program, started on each host, running the tasks in local mp worker
// processes. mp.Apply, Submit, Map, MapSeq and MapSeqUnordered run on it unchanged. NewLocalPool
// is the one-call single-machine form: an embedded server and local agent processes.
//
// Delivery is at least once, and each Future completes exactly once: a task whose worker process
// dies is handed to an agent again at once, up to a number of attempts; a task whose agent dies or
// is cut off is handed again after the ack wait; results are de-duplicated by task ID.
package mpnats

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mp-go/mp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a connection to NATS with JetStream, and the embedded server when Start made one.
// Pools, queues, dicts and mutexes are made on a Cluster. Close it when done.
type Cluster struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	srv *server.Server // nil for Connect
	dir string         // the embedded server's store directory, removed on Close

	url     string      // clients' URL of the embedded server, "" when it listens on no port
	agent   Credentials // credentials for agents, of an embedded server with credentials
	ackWait time.Duration

	setupOnce sync.Once
	setupErr  error
	tasks     jetstream.Consumer
	obj       jetstream.ObjectStore

	headOnce sync.Once // a pool's update of the task consumer
	headErr  error

	perms *permWatch // the permission violations the server reports

	closeOnce sync.Once
	closeErr  error
}

// permWatch hands the permission violations the server reports (asynchronously, to the
// connection's error handler) to whoever waits for one on a subject.
type permWatch struct {
	mu      sync.Mutex
	waiters map[chan error]string // → the subject
}

func newPermWatch() *permWatch { return &permWatch{waiters: make(map[chan error]string)} }

func (w *permWatch) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	msg := strings.ToLower(err.Error())
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch, subject := range w.waiters {
		if strings.Contains(msg, strings.ToLower(subject)) {
			select {
			case ch <- err:
			default:
			}
		}
	}
}

// watch returns a channel that receives the next permission violation on subject, and a function
// that stops watching.
func (w *permWatch) watch(subject string) (<-chan error, func()) {
	ch := make(chan error, 1)
	w.mu.Lock()
	w.waiters[ch] = subject
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.waiters, ch)
		w.mu.Unlock()
	}
}

// Credentials are a user name and password of a NATS server.
type Credentials struct {
	User, Password string
}

// Option configures Start or Connect (both take every Option; each says where it applies).
type Option interface{ apply(*config) error }

type config struct {
	listen  string
	tls     *tls.Config
	head    *Credentials // Start: the head's user; Connect: the user to connect as
	agent   *Credentials // Start: the agents' user
	ackWait time.Duration
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithListen makes Start's server listen for clients on addr ("127.0.0.1:0" for a random port on
// loopback). On loopback without WithAuth, Start makes random per-run credentials: URL and
// AgentCredentials hand them to local agents. A routable address requires WithTLS and WithAuth:
// Start refuses to listen on one without them.
func WithListen(addr string) Option {
	return optionFunc(func(c *config) error { c.listen = addr; return nil })
}

// WithTLS makes Start's server require TLS with cfg (which holds its certificate), or makes
// Connect use cfg.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) error {
		if cfg == nil {
			return errors.New("mpnats: WithTLS(nil): pass a *tls.Config")
		}
		c.tls = cfg
		return nil
	})
}

// WithAuth gives Start's server two users: head, which may do everything, and agent, which may
// run tasks and send results but not submit tasks (it cannot publish on the task subjects).
// Both need a user name and a password of at least 16 characters.
func WithAuth(head, agent Credentials) Option {
	return optionFunc(func(c *config) error {
		for _, cr := range []Credentials{head, agent} {
			if cr.User == "" || len(cr.Password) < 16 {
				return fmt.Errorf("mpnats: WithAuth: user %q: every user needs a name and a password of at least 16 characters", cr.User)
			}
		}
		if head.User == agent.User {
			return fmt.Errorf("mpnats: WithAuth: the head and the agents need different user names (both are %q)", head.User)
		}
		c.head, c.agent = &head, &agent
		return nil
	})
}

// WithUser makes Connect connect as cr.
func WithUser(cr Credentials) Option {
	return optionFunc(func(c *config) error { c.head = &cr; return nil })
}

// AckWait is the option WithAckWait returns: it is both an Option (for Start, Connect and
// NewLocalPool: the task consumer's ack wait) and a QueueOption (for NewQueue and
// NewJoinableQueue: the queue's).
type AckWait time.Duration

// WithAckWait sets how long the server waits for news of a message it handed out before it hands
// it to another taker: how long the tasks of a dead or cut-off agent, or the values held by a
// queue consumer that died, are out of reach.
//
// As an Option (Start, Connect, NewLocalPool) it is the ack wait of the tasks: a task handed to
// an agent may go without news (a result, or the agent's in-progress heartbeat, sent every third
// of d) for d before another agent gets it. The task consumer is shared by the whole cluster,
// and only pools write it: each Cluster's first NewPool sets its value (so the pools of one
// cluster should agree; the last one made wins). Agents do not write it: they read the
// consumer's value when they start and every two seconds after, and send their in-progress acks
// by it, so an agent with another setting can neither change the cluster's ack wait nor fall
// behind it. (An agent's own value is used only to create the consumer when no pool has yet.)
//
// As a QueueOption it is the queue's: a JoinableQueue's live consumer tells the server it is
// still working on the values it holds every third of d, so a long task is not redelivered
// while it runs.
//
// The default is 30 s; d must be at least 100 ms.
func WithAckWait(d time.Duration) AckWait { return AckWait(d) }

func (a AckWait) check() error {
	if time.Duration(a) < 100*time.Millisecond {
		return fmt.Errorf("%w: mpnats.WithAckWait(%v): the ack wait must be at least 100ms", mp.ErrInvalidOption, time.Duration(a))
	}
	return nil
}

func (a AckWait) apply(c *config) error {
	if err := a.check(); err != nil {
		return err
	}
	c.ackWait = time.Duration(a)
	return nil
}

func (a AckWait) applyQueue(c *queueConfig) error {
	if err := a.check(); err != nil {
		return err
	}
	c.ackWait, c.ackWaitSet = time.Duration(a), true
	return nil
}

func buildConfig(opts []Option) (config, error) {
	c := config{ackWait: 30 * time.Second}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("mpnats: a nil Option")
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Start starts an embedded NATS server with JetStream in this process and connects to it. With
// no options the server listens on no port: only this process reaches it (its agents run in the
// same process, see Serve). WithListen makes it listen for agents of other processes or hosts.
func Start(ctx context.Context, opts ...Option) (*Cluster, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	sopts := &server.Options{
		DontListen: cfg.listen == "",
		JetStream:  true,
		NoLog:      true,
		NoSigs:     true,
	}
	if cfg.listen != "" {
		host, port, err := net.SplitHostPort(cfg.listen)
		if err != nil {
			return nil, fmt.Errorf("mpnats: WithListen(%q): %v; give host:port, such as 127.0.0.1:0", cfg.listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("mpnats: WithListen(%q): bad port %q", cfg.listen, port)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		if !isLoopback(host) && (cfg.tls == nil || cfg.head == nil) {
			return nil, fmt.Errorf("mpnats: WithListen(%q): refusing to listen on an address other machines reach without TLS and credentials: add WithTLS and WithAuth, or listen on 127.0.0.1", cfg.listen)
		}
		if cfg.head == nil {
			cfg.head = &Credentials{User: "mp-head", Password: randomSecret()}
			cfg.agent = &Credentials{User: "mp-agent", Password: randomSecret()}
		}
		sopts.Host, sopts.Port = host, p
		if cfg.tls != nil {
			sopts.TLSConfig = cfg.tls
			sopts.TLS, sopts.TLSVerify = true, cfg.tls.ClientAuth >= tls.VerifyClientCertIfGiven
		}
	}
	if cfg.head != nil {
		sopts.Users = []*server.User{
			{Username: cfg.head.User, Password: cfg.head.Password},
			{Username: cfg.agent.User, Password: cfg.agent.Password, Permissions: agentPermissions()},
		}
	}
	dir, err := os.MkdirTemp("", "mpnats-")
	if err != nil {
		return nil, fmt.Errorf("mpnats: store directory: %w", err)
	}
	sopts.StoreDir = dir
	srv, err := server.NewServer(sopts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mpnats: embedded server: %w", err)
	}
	fail := func(err error) (*Cluster, error) {
		srv.Shutdown()
		srv.WaitForShutdown()
		os.RemoveAll(dir)
		return nil, err
	}
	srv.Start()
	if !srv.ReadyForConnections(readyWait(ctx)) {
		if err := context.Cause(ctx); err != nil {
			return fail(fmt.Errorf("mpnats: the embedded server was not ready when ctx ended: %w", err))
		}
		return fail(errors.New("mpnats: the embedded server did not become ready within 10s"))
	}
	perms := newPermWatch()
	copts := []nats.Option{nats.InProcessServer(srv), nats.Name("mp head"), nats.ErrorHandler(perms.handler)}
	if cfg.head != nil {
		copts = append(copts, nats.UserInfo(cfg.head.User, cfg.head.Password))
	}
	nc, err := nats.Connect("", copts...)
	if err != nil {
		return fail(fmt.Errorf("mpnats: connect to the embedded server: %w", err))
	}
	c, err := fromConn(nc)
	if err != nil {
		return fail(err)
	}
	c.perms = perms
	c.srv, c.dir, c.ackWait = srv, dir, cfg.ackWait
	if cfg.listen != "" {
		c.url = srv.ClientURL()
		if cfg.tls != nil {
			c.url = "tls://" + srv.Addr().String()
		}
	}
	if cfg.agent != nil {
		c.agent = *cfg.agent
	}
	return c, nil
}

// agentPermissions is what an agent's user may do: everything but submit tasks or delete them.
func agentPermissions() *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: []string{">"},
			Deny:  []string{taskSubjects, "$JS.API.STREAM.MSG.DELETE.>", "$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>", cancelSubject},
		},
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func randomSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Connect connects to an existing NATS server (or cluster) with JetStream at url, such as
// "nats://host:4222" or "tls://host:4222"; WithUser and WithTLS give credentials and TLS. An agent
// on another host connects with the URL and the AgentCredentials of the head's Cluster.
func Connect(ctx context.Context, url string, opts ...Option) (*Cluster, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	perms := newPermWatch()
	copts := []nats.Option{nats.Name("mp"), nats.Timeout(readyWait(ctx)), nats.MaxReconnects(-1), nats.ReconnectWait(200 * time.Millisecond), nats.ErrorHandler(perms.handler)}
	if cfg.head != nil {
		copts = append(copts, nats.UserInfo(cfg.head.User, cfg.head.Password))
	}
	if cfg.tls != nil {
		copts = append(copts, nats.Secure(cfg.tls))
	}
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		return nil, fmt.Errorf("mpnats: connect to %s: %w", url, err)
	}
	c, err := fromConn(nc)
	if err != nil {
		return nil, err
	}
	c.ackWait, c.perms = cfg.ackWait, perms
	return c, nil
}

// fromConn makes a Cluster of a connection to a server with JetStream; on error it closes nc.
func fromConn(nc *nats.Conn) (*Cluster, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(30*time.Second)) // an async publish unanswered fails, rather than waits forever
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("mpnats: jetstream: %w", err)
	}
	return &Cluster{nc: nc, js: js, ackWait: 30 * time.Second, perms: newPermWatch()}, nil
}

// readyWait is how long Start waits for the embedded server: ctx's deadline, or 10 s.
func readyWait(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 10 * time.Second
}

// URL returns the URL agents of other processes connect to: that of the embedded server when it
// listens (WithListen), the server's for Connect, "" for an in-process-only server.
func (c *Cluster) URL() string {
	if c.srv != nil {
		return c.url
	}
	return c.nc.ConnectedUrl()
}

// AgentCredentials returns the credentials agents connect with to the embedded server (the
// random per-run ones of a loopback server, or WithAuth's agent), and false when it has none.
func (c *Cluster) AgentCredentials() (Credentials, bool) {
	return c.agent, c.agent.User != ""
}

// Close closes the connection, then shuts the embedded server down, waits for it and removes its
// store directory. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		closed := make(chan struct{})
		c.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := c.nc.Drain(); err != nil {
			if !errors.Is(err, nats.ErrConnectionClosed) {
				c.closeErr = err
			}
			c.nc.Close()
		} else {
			select { // Drain closes the connection when it is done
			case <-closed:
			case <-time.After(5 * time.Second):
				c.nc.Close()
			}
		}
		if c.srv != nil {
			c.srv.Shutdown()
			c.srv.WaitForShutdown()
		}
		if c.dir != "" {
			if err := os.RemoveAll(c.dir); err != nil && c.closeErr == nil {
				c.closeErr = err
			}
		}
	})
	return c.closeErr
}
