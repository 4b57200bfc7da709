//go:build linux || darwin

package mp_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

var remoteKey = []byte("the remote manager tests' key, 32+ bytes long")

// RemoteArg tells a child how to reach a served manager.
type RemoteArg struct {
	Network, Addr string
	Key           []byte
	N             int       // TestManagerServeMany: connections to open
	Release       *mp.Event // TestManagerServeMany: set when the child may close them
}

// GrandchildArg hands a child of the remote program a proxy obtained remotely.
type GrandchildArg struct {
	D      *mp.Dict[string, int]
	Remote RemoteArg
}

var (
	// RemoteClient is a program that connects to a served manager, as Python's m.connect():
	// it looks up the published Dict, changes it, checks what a remote client may not do, and
	// passes the proxy to a child of its own.
	RemoteClient = mp.Register("test.mgr.remote_client", func(ctx context.Context, a RemoteArg) (int, error) {
		m, err := mp.ConnectManager(ctx, a.Network, a.Addr, mp.WithAuthKey(a.Key))
		if err != nil {
			return 0, err
		}
		defer m.Close()
		d, err := mp.Lookup[*mp.Dict[string, int]](ctx, m, "scores")
		if err != nil {
			return 0, err
		}
		defer d.Close()
		if v, ok, err := d.Get(ctx, "seed"); err != nil || !ok || v != 41 {
			return 0, fmt.Errorf("remote Get(seed) = %d, %v, %v; want 41", v, ok, err)
		}
		if _, err := mp.Add(ctx, d, "seed", 1); err != nil {
			return 0, err
		}
		if err := d.Set(ctx, "remote", os.Getpid()); err != nil {
			return 0, err
		}
		// A new object, made by the remote client, published for the owner to find.
		mine, err := mp.NewDict[string, string](ctx, m)
		if err != nil {
			return 0, err
		}
		defer mine.Close()
		if err := mine.Set(ctx, "from", "remote"); err != nil {
			return 0, err
		}
		if err := m.Publish(ctx, "remote's", mine); err != nil {
			return 0, err
		}
		if err := m.Shutdown(ctx); !errors.Is(err, mp.ErrInvalidOption) {
			return 0, fmt.Errorf("Shutdown from a remote client: %v; want ErrInvalidOption", err)
		}
		if err := mp.ManagerSendShutdown(ctx, m); !errors.Is(err, mp.ErrInvalidOption) {
			return 0, fmt.Errorf("the shutdown request from a remote client: %v; want the manager's ErrInvalidOption", err)
		}
		// The proxy, passed to a child of this program, works there once it connects.
		if _, err := mp.Run(ctx, RemoteGrandchild, GrandchildArg{D: d, Remote: a}); err != nil {
			return 0, fmt.Errorf("the remote program's child: %w", err)
		}
		return os.Getpid(), nil
	})
	// RemoteGrandchild uses a proxy its parent obtained from a remote manager: it fails until
	// this process connects (the key does not travel in the proxy), and works after.
	RemoteGrandchild = mp.Register("test.mgr.remote_grandchild", func(ctx context.Context, a GrandchildArg) (struct{}, error) {
		if _, _, err := a.D.Get(ctx, "seed"); !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "ConnectManager") {
			return struct{}{}, fmt.Errorf("a call before connecting: %v; want ErrAuthentication naming ConnectManager", err)
		}
		m, err := mp.ConnectManager(ctx, a.Remote.Network, a.Remote.Addr, mp.WithAuthKey(a.Remote.Key))
		if err != nil {
			return struct{}{}, err
		}
		defer m.Close()
		return struct{}{}, a.D.Set(ctx, "grandchild", os.Getpid())
	})
	// RemoteConnect connects with the options given and makes one call: the error is the test's.
	RemoteConnect = mp.Register("test.mgr.remote_connect", func(ctx context.Context, a RemoteArg) (struct{}, error) {
		var opts []mp.ConnOption
		if a.Key != nil {
			opts = append(opts, mp.WithAuthKey(a.Key))
		}
		m, err := mp.ConnectManager(ctx, a.Network, a.Addr, opts...)
		if err != nil {
			return struct{}{}, err
		}
		defer m.Close()
		_, err = m.Stats(ctx)
		return struct{}{}, err
	})
	// RemoteMany opens N connections to a served manager, makes a call on each, counts them
	// in the published Dict, and holds them until Release is set.
	RemoteMany = mp.Register("test.mgr.remote_many", func(ctx context.Context, a RemoteArg) (struct{}, error) {
		ms := make([]*mp.Manager, 0, a.N)
		defer func() {
			for _, m := range ms {
				m.Close()
			}
		}()
		for range a.N {
			m, err := mp.ConnectManager(ctx, a.Network, a.Addr, mp.WithAuthKey(a.Key))
			if err != nil {
				return struct{}{}, err
			}
			ms = append(ms, m)
			d, err := mp.Lookup[*mp.Dict[string, int]](ctx, m, "scores")
			if err != nil {
				return struct{}{}, err
			}
			if _, err := mp.Add(ctx, d, "opened", 1); err != nil {
				return struct{}{}, err
			}
			d.Close()
		}
		return struct{}{}, a.Release.Wait(ctx)
	})
)

// serve serves m on a new listener of network (loopback TCP, or a Unix socket in a temporary
// directory) with opts, until the test ends; it returns the listener's address.
func serve(t *testing.T, m *mp.Manager, network string, opts ...mp.ConnOption) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "m.sock")
	}
	ln, err := mp.Listen(ctxT(t), network, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, m, ln)
	return ln.Addr()
}

// serveOn runs m.Serve(ln) until the test ends, and checks that Serve returned.
func serveOn(t *testing.T, m *mp.Manager, ln *mp.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) && !errors.Is(err, mp.ErrClosed) {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return once its ctx ended")
		}
	})
}

// TestManagerServeRemote: a program connects to the manager another serves, over TCP and a Unix
// socket, with an auth key: it finds the published Dict and changes it, publishes an object of
// its own, cannot shut the manager down, and a child of it uses the proxy once it connects.
func TestManagerServeRemote(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ctx := ctxT(t)
			m := startManager(t)
			d := newDict[string, int](t, m)
			if err := d.Set(ctx, "seed", 41); err != nil {
				t.Fatal(err)
			}
			if err := m.Publish(ctx, "scores", d); err != nil {
				t.Fatal(err)
			}
			addr := serve(t, m, network, mp.WithAuthKey(remoteKey))
			pid, err := mp.Run(ctx, RemoteClient, RemoteArg{Network: network, Addr: addr, Key: remoteKey})
			if err != nil {
				t.Fatal(err)
			}
			if v, _, _ := d.Get(ctx, "seed"); v != 42 {
				t.Errorf("seed = %d after the remote Add; want 42", v)
			}
			if v, _, _ := d.Get(ctx, "remote"); v != pid {
				t.Errorf("remote = %d; want the remote program's pid %d", v, pid)
			}
			if v, ok, _ := d.Get(ctx, "grandchild"); !ok || v == pid || v == 0 {
				t.Errorf("grandchild = %d, %v; want the pid of the remote program's child", v, ok)
			}
			// What the remote program published outlives its connection.
			theirs, err := mp.Lookup[*mp.Dict[string, string]](ctx, m, "remote's")
			if err != nil {
				t.Fatal(err)
			}
			defer theirs.Close()
			if v, _, err := theirs.Get(ctx, "from"); v != "remote" || err != nil {
				t.Errorf("the remote program's Dict: from = %q, %v", v, err)
			}
		})
	}
}

// TestManagerServeAuth: a key mismatch, or a key on one side only, fails with ErrAuthentication
// in the remote program in one round trip (never the handshake's timeout), and the serving side
// reports it too where it can know; the manager serves on.
func TestManagerServeAuth(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	if err := m.Publish(ctx, "scores", d); err != nil {
		t.Fatal(err)
	}
	other := []byte("another key, as long as the first one is")
	cases := []struct {
		name           string
		server, client []byte
		serverSees     bool // the listener reports the failure
		clientSays     string
	}{
		{"wrong key", remoteKey, other, true, "auth key is not this side's"},
		{"client without key", remoteKey, nil, true, "ConnectManager was given none"},
		{"server without key", nil, remoteKey, false, "does it have no auth key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rejected := make(chan error, 4)
			opts := []mp.ConnOption{mp.WithHandshakeTimeout(time.Minute), mp.WithHandshakeErrorFunc(func(err error) { rejected <- err })}
			if c.server != nil {
				opts = append(opts, mp.WithAuthKey(c.server))
			}
			addr := serve(t, m, "tcp", opts...)
			_, err := mp.Run(ctx, RemoteConnect, RemoteArg{Network: "tcp", Addr: addr, Key: c.client})
			if !errors.Is(err, mp.ErrAuthentication) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), c.clientSays) {
				t.Fatalf("the remote program's error: %v; want ErrAuthentication saying %q, at once", err, c.clientSays)
			}
			if c.serverSees {
				select {
				case err := <-rejected:
					if !errors.Is(err, mp.ErrAuthentication) {
						t.Fatalf("the listener's error: %v; want ErrAuthentication", err)
					}
				case <-ctx.Done():
					t.Fatal("the listener reported nothing")
				}
			}
			// The same listener serves a client with the right key.
			var good []byte
			if c.server != nil {
				good = c.server
			}
			if _, err := mp.Run(ctx, RemoteConnect, RemoteArg{Network: "tcp", Addr: addr, Key: good}); err != nil {
				t.Fatalf("a client with the listener's key, after a failed one: %v", err)
			}
		})
	}
}

// TestManagerServeHostile: bytes that are no handshake — a header announcing a gigabyte, then
// garbage — are refused after a few hundred bytes: the listener reports it, closes the
// connection, and serves the next client.
func TestManagerServeHostile(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	rejected := make(chan error, 4)
	addr := serve(t, m, "tcp", mp.WithAuthKey(remoteKey), mp.WithHandshakeErrorFunc(func(err error) { rejected <- err }))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// Read the challenge, then answer with a frame of 1 GiB.
	br := bufio.NewReader(c)
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, br, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
		t.Fatal(err)
	}
	go func() { // the server stops reading: this writer ends when the connection does
		binary.BigEndian.PutUint32(hdr[:], 1<<30)
		c.Write(hdr[:])
		junk := make([]byte, 64<<10)
		for range 1 << 14 {
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-rejected:
		if !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "before the peer is authenticated") {
			t.Fatalf("the listener's error: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the listener reported nothing")
	}
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the hostile connection was not closed: %v", err)
	}
	if _, err := mp.Run(ctx, RemoteConnect, RemoteArg{Network: "tcp", Addr: addr, Key: remoteKey}); err != nil {
		t.Fatalf("a good client after a hostile one: %v", err)
	}
}

// TestManagerServeMisuse: what Serve, Publish, Lookup and a connected Manager refuse.
func TestManagerServeMisuse(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	// Every address, without key or TLS: refused before anything listens.
	if _, err := mp.Listen(ctx, "tcp", "0.0.0.0:0"); !errors.Is(err, mp.ErrInvalidOption) || !strings.Contains(err.Error(), "WithInsecureListen") {
		t.Fatalf("Listen on every address without a key: %v", err)
	}
	if err := m.Serve(ctx, nil); err == nil {
		t.Fatal("Serve(nil) succeeded")
	}
	if err := m.Publish(ctx, "", d); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Publish with an empty name: %v", err)
	}
	if err := m.Publish(ctx, "x", (*mp.Dict[string, int])(nil)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Publish of a nil Dict: %v", err)
	}
	other := startManager(t)
	if err := other.Publish(ctx, "x", d); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Publish of another manager's proxy: %v", err)
	}
	if _, err := mp.Lookup[*mp.Dict[string, int]](ctx, m, "nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lookup of a name never published: %v", err)
	}
	if err := m.Publish(ctx, "d", d); err != nil {
		t.Fatal(err)
	}
	if _, err := mp.Lookup[*mp.List[int]](ctx, m, "d"); !errors.Is(err, mp.ErrDecode) {
		t.Fatalf("Lookup of a Dict as a List: %v", err)
	}
	// A published object outlives its proxies.
	d.Close()
	runtime.GC()
	again, err := mp.Lookup[*mp.Dict[string, int]](ctx, m, "d")
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Set(ctx, "k", 1); err != nil {
		t.Fatalf("the published Dict after its creator's proxy closed: %v", err)
	}
	again.Close()
	if _, err := mp.ConnectManager(ctx, "tcp", "example.com:80", mp.WithAuthKey(remoteKey)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("ConnectManager to a host name: %v", err)
	}
	if _, err := mp.ConnectManager(ctx, "tcp", "127.0.0.1:1", mp.WithInsecureListen()); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("ConnectManager with a listener's option: %v", err)
	}
	// Serve returns once the manager is closed, and closes its listener.
	ln, err := mp.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- other.Serve(context.Background(), ln) }()
	cm, err := mp.ConnectManager(ctx, "tcp", ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if cm.String() != "mp.Manager(tcp "+ln.Addr()+")" || cm.Pid() != 0 {
		t.Errorf("a connected Manager: %v, pid %d", cm, cm.Pid())
	}
	if err := cm.Serve(ctx, ln); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Serve on a connected Manager: %v", err)
	}
	other.Close()
	select {
	case err := <-done:
		if !errors.Is(err, mp.ErrClosed) {
			t.Fatalf("Serve after Close: %v; want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return after the manager's Close")
	}
	if _, err := cm.Stats(ctx); !errors.Is(err, mp.ErrManagerDead) && !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("a call on a connection whose manager was closed: %v", err)
	}
	cm.Close()
	if _, err := cm.Stats(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("a call after Close of a connected Manager: %v", err)
	}
	if _, err := mp.Dial[int](ctx, "tcp", ln.Addr()); err == nil {
		t.Fatal("the listener is still open after Serve returned")
	}
}

// TestManagerServeMany: one manager serves many concurrent remote connections, opened by a few
// child processes, each making calls; the figure is the serving side's memory per connection
// (the manager process's and the relaying process's). MP_MANAGER_CONNS sets the count (200
// by default: CI's; 1000 is issue 12's).
func TestManagerServeMany(t *testing.T) {
	total := 200
	if s := os.Getenv("MP_MANAGER_CONNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 4 {
			t.Fatalf("MP_MANAGER_CONNS=%q", s)
		}
		total = n
	}
	const children = 4
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	if err := m.Publish(ctx, "scores", d); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m, "tcp", mp.WithAuthKey(remoteKey))
	release, err := mp.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer release.Close()
	runtime.GC()
	mgrBefore, selfBefore := rssKiB(t, m.Pid()), rssKiB(t, os.Getpid())
	var ps []*mp.Process
	for i := range children {
		n := total / children
		if i == 0 {
			n += total % children
		}
		p := mp.NewProcess(RemoteMany, RemoteArg{Network: "tcp", Addr: addr, Key: remoteKey, N: n, Release: release})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer p.Kill()
		ps = append(ps, p)
	}
	for {
		v, _, err := d.Get(ctx, "opened")
		if err != nil {
			t.Fatal(err)
		}
		if v == total {
			break
		}
		for _, p := range ps {
			select {
			case <-p.Done():
				t.Fatalf("a child ended before opening its connections: %v", p.Wait(ctx))
			default:
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d connections of %d opened", v, total)
		case <-time.After(5 * time.Millisecond):
		}
	}
	st, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Connections < total {
		t.Fatalf("the manager serves %d connections; want at least %d", st.Connections, total)
	}
	runtime.GC()
	mgr, self := rssKiB(t, m.Pid())-mgrBefore, rssKiB(t, os.Getpid())-selfBefore
	t.Logf("%d remote connections: the manager process grew by %d KiB (%.1f KiB each), the relaying process by %d KiB (%.1f KiB each)",
		total, mgr, float64(mgr)/float64(total), self, float64(self)/float64(total))
	if err := release.Set(); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The clients are gone: so are their relays and the manager's connections.
	for {
		st, err := m.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Connections == 1 { // this process's own
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the manager still serves %d connections after its remote clients ended", st.Connections)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// BenchmarkManagerRemoteGet: a Dict Get through a connection of ConnectManager, relayed by
// Serve over loopback TCP with an auth key, against the same Get on the local socket.
func BenchmarkManagerRemoteGet(b *testing.B) {
	ctx := context.Background()
	m, err := mp.StartManager(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ln, err := mp.Listen(ctx, "tcp", "127.0.0.1:0", mp.WithAuthKey(remoteKey))
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- m.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	cm, err := mp.ConnectManager(ctx, "tcp", ln.Addr(), mp.WithAuthKey(remoteKey))
	if err != nil {
		b.Fatal(err)
	}
	defer cm.Close()
	for _, bc := range []struct {
		name string
		m    *mp.Manager
	}{{"local", m}, {"remote", cm}} {
		b.Run(bc.name, func(b *testing.B) {
			d, err := mp.NewDict[string, string](ctx, bc.m)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			if err := d.Set(ctx, "k", "vvvvvvvvvvvvvvvv"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := d.Get(ctx, "k"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
