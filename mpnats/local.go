package mpnats

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/mp-go/mp"
)

// agentArg is what a local agent process is started with.
type agentArg struct {
	URL      string
	User     string
	Password string
	Slots    int
	AckWait  time.Duration
}

// agentMain is the body of a local agent process (NewLocalPool).
var agentMain = mp.Register("mpnats.agent", func(ctx context.Context, a agentArg) (struct{}, error) {
	c, err := Connect(ctx, a.URL, WithUser(Credentials{User: a.User, Password: a.Password}), WithAckWait(a.AckWait))
	if err != nil {
		return struct{}{}, err
	}
	defer c.Close()
	return struct{}{}, Serve(ctx, c, WithSlots(a.Slots))
})

// LocalPool is a Pool on an embedded server with local agent processes: what NewLocalPool
// returns. Close (or Shutdown) stops the agents and the server too.
type LocalPool struct {
	*Pool
	c      *Cluster
	agents []*mp.Process
}

// WithClusterOptions passes options to the embedded server of NewLocalPool (WithAckWait, say).
func WithClusterOptions(opts ...Option) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error { c.clusterOpts = append(c.clusterOpts, opts...); return nil })
}

// NewLocalPool is the single-machine cluster in one call: it starts an embedded server on
// loopback with random per-run credentials, agents agent processes of this binary with slots
// slots each (their tasks run in worker processes of their own), and a pool named name on it, and
// returns once every agent has reported in (or ctx ends).
func NewLocalPool(ctx context.Context, name string, agents, slots int, opts ...PoolOption) (*LocalPool, error) {
	if agents < 1 || slots < 1 {
		return nil, fmt.Errorf("mpnats: NewLocalPool(%q, %d agents, %d slots): both must be at least 1", name, agents, slots)
	}
	var cfg poolConfig
	for _, o := range opts {
		if o != nil {
			o.applyPool(&cfg)
		}
	}
	c, err := Start(ctx, append([]Option{WithListen("127.0.0.1:0")}, cfg.clusterOpts...)...)
	if err != nil {
		return nil, err
	}
	p, err := NewPool(ctx, c, name, opts...)
	if err != nil {
		c.Close()
		return nil, err
	}
	lp := &LocalPool{Pool: p, c: c}
	cr, _ := c.AgentCredentials()
	for i := range agents {
		proc := mp.NewProcess(agentMain, agentArg{URL: c.URL(), User: cr.User, Password: cr.Password, Slots: slots, AckWait: c.ackWait},
			mp.WithName(name+"-agent-"+strconv.Itoa(i+1)))
		if err := proc.Start(ctx); err != nil {
			lp.Close()
			return nil, fmt.Errorf("mpnats: start local agent %d: %w", i+1, err)
		}
		lp.agents = append(lp.agents, proc)
	}
	for p.Workers() < agents*slots || len(p.liveAgents()) < agents {
		select {
		case <-ctx.Done():
			lp.Close()
			return nil, fmt.Errorf("mpnats: NewLocalPool: the agents did not report in: %w", context.Cause(ctx))
		case <-time.After(10 * time.Millisecond):
		}
	}
	return lp, nil
}

// AgentProcesses returns the agent processes, in the order they were started.
func (lp *LocalPool) AgentProcesses() []*mp.Process { return lp.agents }

// Cluster returns the embedded server's Cluster (for queues and dicts next to the pool).
func (lp *LocalPool) Cluster() *Cluster { return lp.c }

// Shutdown waits for the calls sent (as Pool.Shutdown), then stops the agents and the server.
func (lp *LocalPool) Shutdown(ctx context.Context, opts ...mp.ShutdownOption) error {
	err := lp.Pool.Shutdown(ctx, opts...)
	return errors.Join(err, lp.stop())
}

// Close cancels the calls not complete (as Pool.Close), then stops the agents and the server.
func (lp *LocalPool) Close() error {
	lp.Pool.Close()
	return lp.stop()
}

func (lp *LocalPool) stop() error {
	for _, a := range lp.agents {
		a.Terminate()
	}
	for _, a := range lp.agents {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if a.Wait(ctx) != nil && ctx.Err() != nil {
			a.Kill()
			a.Wait(context.Background())
		}
		cancel()
	}
	return lp.c.Close()
}

// ServeFromEnv makes this process an agent when its environment says so: with MPNATS_URL set, it
// connects there (as MPNATS_USER with MPNATS_PASSWORD, when set; MPNATS_SLOTS slots, default
// mp.NumCPU()) and serves until ctx ends, then returns true and Serve's error. Without
// MPNATS_URL it returns false at once. MPNATS_ACK_WAIT (a duration, such as 30s) is used only
// when the agent starts before any pool has made the task consumer (agents use the consumer's
// ack wait, which pools set); MPNATS_CA names the PEM file of the CA that signed the
// server's certificate, for a server with TLS (a tls:// URL). Call it in main right after mp.Init, so the same binary
// is the head on one host and an agent on the others:
//
//	func main() {
//		mp.Init()
//		if ok, err := mpnats.ServeFromEnv(ctx); ok { ... exit with err ... }
//		...
//	}
func ServeFromEnv(ctx context.Context) (bool, error) {
	url := os.Getenv("MPNATS_URL")
	if url == "" {
		return false, nil
	}
	var opts []Option
	if u := os.Getenv("MPNATS_USER"); u != "" {
		opts = append(opts, WithUser(Credentials{User: u, Password: os.Getenv("MPNATS_PASSWORD")}))
	}
	if s := os.Getenv("MPNATS_ACK_WAIT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return true, fmt.Errorf("mpnats: MPNATS_ACK_WAIT=%q: give a duration such as 30s (the head's WithAckWait)", s)
		}
		opts = append(opts, WithAckWait(d))
	}
	if ca := os.Getenv("MPNATS_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return true, fmt.Errorf("mpnats: MPNATS_CA: %w; give the PEM file of the CA that signed the server's certificate", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return true, fmt.Errorf("mpnats: MPNATS_CA=%q holds no PEM certificate", ca)
		}
		opts = append(opts, WithTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	}
	var aopts []AgentOption
	if s := os.Getenv("MPNATS_SLOTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return true, fmt.Errorf("mpnats: MPNATS_SLOTS=%q: give a number of slots, at least 1", s)
		}
		aopts = append(aopts, WithSlots(n))
	}
	c, err := Connect(ctx, url, opts...)
	if err != nil {
		return true, err
	}
	defer c.Close()
	return true, Serve(ctx, c, aopts...)
}
