//go:build linux

package mpnats_test

// The cluster tested as a cluster (issue 13 §4): each host is a network namespace (internal/netns)
// running an agent of this test binary (TestMain's testAgentEnv), which reaches the head - the
// embedded server and the pool, in the test process - over its link to the root namespace. The
// server listens on that routable address, so it has TLS (a CA and certificate made here) and
// credentials, the real security path.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/internal/netns"
	"github.com/mp-go/mp/mpnats"
	"github.com/nats-io/nats.go"
)

// KillableOnce writes its worker's pid to dir/pid and blocks the first time it runs for dir (the
// test kills that worker); the next time it returns its pid.
var KillableOnce = mp.Register("mpnats_test.killable_once", func(ctx context.Context, dir string) (int, error) {
	path := filepath.Join(dir, "pid")
	if _, err := os.Stat(path); err != nil {
		os.WriteFile(path+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o600)
		os.Rename(path+".tmp", path)
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return os.Getpid(), nil
})

// testCA is a self-signed CA and a server certificate it signed, for one IP address.
type testCA struct {
	server tls.Config // the server's: its certificate
	caFile string     // the CA's PEM file, for MPNATS_CA
	roots  *x509.CertPool
}

func newTestCA(t testing.TB, ip string) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mpnats test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.ParseIP(ip)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &testCA{
		server: tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		caFile: caFile, roots: roots,
	}
}

// netCluster is a head in the test process and one agent process per host.
type netCluster struct {
	net    *netns.Net
	c      *mpnats.Cluster
	p      *mpnats.Pool
	ca     *testCA
	head   mpnats.Credentials
	agent  mpnats.Credentials
	agents []*agentProc // in the order of net.Hosts()
}

// agentProc is an agent process in a host.
type agentProc struct {
	host *netns.Host
	pid  int
	out  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newNetCluster makes hosts namespaces, a head on the root link (TLS and credentials) with
// ack wait ackWait, and an agent of slots slots on each host; it returns once every agent has
// reported in. Everything is stopped when the test ends.
func newNetCluster(t testing.TB, hosts, slots int, ackWait time.Duration) *netCluster {
	t.Helper()
	ctx := ctxT(t)
	n := netns.New(t, hosts, netns.WithRoot())
	nc := &netCluster{net: n, ca: newTestCA(t, n.Root().Addr),
		head:  mpnats.Credentials{User: "head", Password: "head-password-0123456789"},
		agent: mpnats.Credentials{User: "agent", Password: "agent-password-0123456789"}}
	c, err := mpnats.Start(ctx, mpnats.WithListen(n.Root().Addr+":0"), mpnats.WithTLS(&nc.ca.server),
		mpnats.WithAuth(nc.head, nc.agent), mpnats.WithAckWait(ackWait))
	if err != nil {
		t.Fatal(err)
	}
	nc.c = c
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Cluster.Close: %v", err)
		}
	})
	if !strings.HasPrefix(c.URL(), "tls://"+n.Root().Addr+":") {
		t.Fatalf("the server's URL is %q, want tls://%s:port", c.URL(), n.Root().Addr)
	}
	p, err := mpnats.NewPool(ctx, c, "netns")
	if err != nil {
		t.Fatal(err)
	}
	nc.p = p
	t.Cleanup(func() { p.Close() })
	for _, h := range n.Hosts() {
		nc.startAgent(t, h, slots, ackWait)
	}
	t.Cleanup(nc.stopAgents) // runs before the pool's and the cluster's Cleanups
	deadline := time.Now().Add(30 * time.Second)
	for len(nc.live()) < hosts {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d agents reported in after 30s; agents' output:\n%s", len(nc.live()), hosts, nc.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nc
}

func (nc *netCluster) startAgent(t testing.TB, h *netns.Host, slots int, ackWait time.Duration) {
	t.Helper()
	cmd := h.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), testAgentEnv+"=1", "MPNATS_URL="+nc.c.URL(), "MPNATS_USER="+nc.agent.User,
		"MPNATS_PASSWORD="+nc.agent.Password, "MPNATS_CA="+nc.ca.caFile, "MPNATS_SLOTS="+strconv.Itoa(slots),
		"MPNATS_ACK_WAIT="+ackWait.String())
	a := &agentProc{host: h, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = a.out, a.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the agent on %s: %v", h.Addr, err)
	}
	a.pid = cmd.Process.Pid
	go func() { a.err = cmd.Wait(); close(a.done) }()
	nc.agents = append(nc.agents, a)
}

// stopAgents stops every agent (SIGCONT first, for a stopped one), killing those that do not
// exit within 10 s, and waits for them.
func (nc *netCluster) stopAgents() {
	for _, a := range nc.agents {
		syscall.Kill(a.pid, syscall.SIGCONT)
		syscall.Kill(a.pid, syscall.SIGTERM)
	}
	for _, a := range nc.agents {
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(a.pid, syscall.SIGKILL)
			<-a.done
		}
	}
}

func (nc *netCluster) output() string {
	var b strings.Builder
	for _, a := range nc.agents {
		b.WriteString("--- agent on " + a.host.Addr + ":\n" + a.out.String())
	}
	return b.String()
}

// live returns the pids of the agents the pool sees alive.
func (nc *netCluster) live() map[int]bool {
	out := map[int]bool{}
	for _, a := range nc.p.Agents() {
		if !a.Lost {
			out[a.Pid] = true
		}
	}
	return out
}

// waitAgent waits until the pool sees the agent with pid lost (lost) or alive (!lost), and
// returns how long that took.
func (nc *netCluster) waitAgent(t *testing.T, pid int, lost bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		for _, a := range nc.p.Agents() {
			if a.Pid == pid && a.Lost == lost {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("agent %d not reported lost=%v after %v (agents %+v)", pid, lost, within, nc.p.Agents())
	return 0
}

// localSquares is what a local mp.Pool gives for SlowSquare over 0..n-1: the reference the
// cluster's results must equal.
func localSquares(t *testing.T, n int) []int {
	t.Helper()
	ctx := ctxT(t)
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	args := make([][2]int, n)
	for i := range args {
		args[i] = [2]int{i, 0}
	}
	got, err := mp.Map(ctx, p, SlowSquare, args)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, n)
	for i, v := range got {
		out[i] = v[0]
	}
	return out
}

// run submits n SlowSquare tasks of ms milliseconds each; after the agent victim has finished
// `after` of them it calls act (once, from a callback). It checks every Future completes exactly
// once and the results equal a local run, and returns how many tasks each agent (by pid) ran.
func (nc *netCluster) run(t *testing.T, n, ms int, victim, after int, act func()) map[int]int {
	t.Helper()
	ctx := ctxT(t)
	want := localSquares(t, n)
	var mu sync.Mutex
	byAgent := map[int]int{}
	calls := make([]int, n)
	var acted sync.Once
	actDone := make(chan struct{})
	var callbacks sync.WaitGroup
	futs := make([]*mp.Future[[2]int], n)
	for i := range futs {
		futs[i] = mp.Submit(ctx, nc.p, SlowSquare, [2]int{i, ms})
		callbacks.Add(1)
		futs[i].OnDone(func(v [2]int, err error) {
			defer callbacks.Done()
			mu.Lock()
			calls[i]++
			byAgent[v[1]]++
			k := byAgent[victim]
			mu.Unlock()
			if act != nil && k == after {
				go acted.Do(func() { act(); close(actDone) }) // not in the callback: act may wait
			}
		})
	}
	got := make([]int, n)
	for i, f := range futs {
		v, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("task %d: %v; agents' output:\n%s", i, err, nc.output())
		}
		got[i] = v[0]
	}
	done := make(chan struct{})
	go func() { callbacks.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callbacks still running 10s after every Future completed")
	}
	if act != nil {
		select { // every callback has run: act has started, or never will
		case <-actDone:
		case <-time.After(20 * time.Second):
			t.Fatalf("the victim ran %d tasks, fewer than the %d before the fault, or the fault hung: nothing was tested (by agent: %v)", byAgent[victim], after, byAgent)
		}
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("task %d: %d, a local run gives %d", i, got[i], want[i])
		}
		if calls[i] != 1 {
			t.Fatalf("task %d's Future completed %d times", i, calls[i])
		}
	}
	return byAgent
}

func (nc *netCluster) pids() []int {
	out := make([]int, len(nc.agents))
	for i, a := range nc.agents {
		out[i] = a.pid
	}
	return out
}

// Three agents on three hosts share 1,000 tasks: each runs some, every Future completes once, and
// the results equal a local run.
func TestNetnsThreeAgentsShare(t *testing.T) {
	nc := newNetCluster(t, 3, 2, 2*time.Second)
	byAgent := nc.run(t, 1000, 1, 0, 0, nil)
	total := 0
	for _, pid := range nc.pids() {
		if byAgent[pid] == 0 {
			t.Errorf("agent %d ran none of the tasks (by agent: %v)", pid, byAgent)
		}
		total += byAgent[pid]
	}
	if total != 1000 {
		t.Fatalf("the agents' tasks add up to %d (by agent: %v), want 1000", total, byAgent)
	}
	t.Logf("tasks by agent: %v; duplicates %d", byAgent, nc.p.Duplicates())
}

// An agent SIGKILLed mid-run: its tasks go to the others after the ack wait; every Future
// completes once, with the value a local run gives; the pool reports the agent lost.
func TestNetnsAgentKilled(t *testing.T) {
	nc := newNetCluster(t, 3, 2, time.Second)
	victim := nc.agents[0].pid
	byAgent := nc.run(t, 300, 20, victim, 5, func() { syscall.Kill(victim, syscall.SIGKILL) })
	select {
	case <-nc.agents[0].done:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed agent did not end")
	}
	nc.waitAgent(t, victim, true, 10*time.Second)
	t.Logf("tasks by agent: %v; duplicates %d", byAgent, nc.p.Duplicates())
}

// An agent SIGSTOPped: the pool reports it lost by its missing heartbeats, and its tasks are
// handed to the others after the ack wait - every Future completes while it is still stopped.
func TestNetnsAgentStopped(t *testing.T) {
	nc := newNetCluster(t, 2, 2, time.Second)
	victim := nc.agents[0].pid
	stopped := make(chan struct{})
	byAgent := nc.run(t, 200, 20, victim, 5, func() { syscall.Kill(victim, syscall.SIGSTOP); close(stopped) })
	<-stopped
	if d := nc.waitAgent(t, victim, true, 10*time.Second); d > 5*time.Second {
		t.Fatalf("reported lost %v after it stopped; three heartbeats are 1.5 s", d)
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(victim) + "/stat")
	if err != nil || !strings.Contains(string(st), ") T ") {
		t.Fatalf("the victim is not stopped any more (%q, %v): the tasks were not shown to complete without it", st, err)
	}
	syscall.Kill(victim, syscall.SIGCONT)
	nc.waitAgent(t, victim, false, 10*time.Second)
	t.Logf("tasks by agent: %v; duplicates %d", byAgent, nc.p.Duplicates())
}

// A worker process killed on a host: its task runs again at once (well within the 30 s ack
// wait), and the Future gets the second attempt's result.
func TestNetnsWorkerKilled(t *testing.T) {
	nc := newNetCluster(t, 2, 1, 30*time.Second)
	ctx := ctxT(t)
	dir := t.TempDir()
	f := mp.Submit(ctx, nc.p, KillableOnce, dir)
	pid := readPid(t, filepath.Join(dir, "pid"))
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got, err := f.Wait(ctx)
	if err != nil || got <= 0 || got == pid {
		t.Fatalf("after its worker was killed: %d, %v", got, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the task ran again %v after its worker was killed; the ack wait is 30 s, a worker's death is at once", d)
	}
	if nc.p.Redeliveries() != 1 {
		t.Fatalf("%d redeliveries, want 1", nc.p.Redeliveries())
	}
}

// The link to a host cut and restored: its tasks go to the other host after the ack wait, every
// Future completes once, and the agent rejoins when the link is back.
func TestNetnsLinkCut(t *testing.T) {
	nc := newNetCluster(t, 2, 2, time.Second)
	victim := nc.agents[0]
	cut := make(chan error, 1)
	byAgent := nc.run(t, 200, 20, victim.pid, 5, func() { cut <- victim.host.Cut() })
	if err := <-cut; err != nil {
		t.Fatal(err)
	}
	nc.waitAgent(t, victim.pid, true, 10*time.Second)
	if err := victim.host.Restore(); err != nil {
		t.Fatal(err)
	}
	d := nc.waitAgent(t, victim.pid, false, 60*time.Second)
	t.Logf("tasks by agent: %v; duplicates %d; the agent rejoined %v after the link came back", byAgent, nc.p.Duplicates(), d)
	// It runs tasks again: with the other agent stopped, it runs every one.
	other := nc.agents[1]
	syscall.Kill(other.pid, syscall.SIGTERM)
	select {
	case <-other.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the other agent did not stop on SIGTERM")
	}
	after := nc.run(t, 20, 1, 0, 0, nil)
	if after[victim.pid] != 20 {
		t.Fatalf("after rejoining, tasks by agent: %v; want all 20 on %d", after, victim.pid)
	}
}

// Security on the routable address: a client without credentials is refused, as is one without
// TLS; the agents' credentials cannot submit tasks; the server refuses to listen on a routable
// address without both TLS and credentials.
func TestNetnsSecurity(t *testing.T) {
	nc := newNetCluster(t, 1, 1, 2*time.Second)
	url := nc.c.URL()
	secure := nats.Secure(&tls.Config{RootCAs: nc.ca.roots, MinVersion: tls.VersionTLS12})
	if c, err := nats.Connect(url, secure, nats.Timeout(5*time.Second)); err == nil {
		c.Close()
		t.Fatal("a client without credentials was let in")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("without credentials: %v", err)
	}
	plain := "nats://" + strings.TrimPrefix(url, "tls://")
	if c, err := nats.Connect(plain, nats.UserInfo(nc.head.User, nc.head.Password), nats.Timeout(5*time.Second)); err == nil {
		c.Close()
		t.Fatal("a client without TLS was let in")
	}
	if c, err := nats.Connect(url, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}), nats.UserInfo(nc.head.User, nc.head.Password), nats.Timeout(5*time.Second)); err == nil {
		c.Close()
		t.Fatal("a client that does not trust the CA connected: the server's certificate was not checked")
	}
	// The agents' user may connect, but not publish a task.
	ac, err := nats.Connect(url, secure, nats.UserInfo(nc.agent.User, nc.agent.Password), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	violation := make(chan error, 1)
	ac.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case violation <- err:
		default:
		}
	})
	if err := ac.Publish("mp.tasks.netns", []byte("x")); err != nil {
		t.Fatal(err)
	}
	ac.Flush()
	select {
	case err := <-violation:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("the agents' user publishing a task: %v, want a permissions violation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agents' user published a task unrefused")
	}
	// The head's credentials work, over TLS.
	if v, err := mp.Apply(ctxT(t), nc.p, Square, 12); v != 144 || err != nil {
		t.Fatalf("the head: %d, %v", v, err)
	}
	addr := nc.net.Root().Addr + ":0"
	for _, opts := range [][]mpnats.Option{
		{mpnats.WithListen(addr)},
		{mpnats.WithListen(addr), mpnats.WithTLS(&nc.ca.server)},
		{mpnats.WithListen(addr), mpnats.WithAuth(nc.head, nc.agent)},
	} {
		c, err := mpnats.Start(ctxT(t), opts...)
		if err == nil {
			c.Close()
			t.Fatalf("Start on %s with %d options: listening without TLS and credentials", addr, len(opts))
		}
		if !strings.Contains(err.Error(), "without TLS and credentials") {
			t.Fatalf("Start on %s: %v", addr, err)
		}
	}
}
