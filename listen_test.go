//go:build unix

package mp_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/internal/sock"
)

// testKey is the auth key of these tests.
var testKey = []byte("a key of the listen tests, long enough")

// Greeting is what the tests send over network connections.
type Greeting struct {
	From string
	N    int
}

// listenT listens on network at a fresh address of the test (a Unix path in t.TempDir, or port
// 0 of loopback) and closes the Listener when the test ends.
func listenT(t *testing.T, network string, opts ...mp.ConnOption) *mp.Listener {
	t.Helper()
	addr := "127.0.0.1:0"
	switch network {
	case "unix":
		addr = filepath.Join(t.TempDir(), "l.sock")
	case "tcp6":
		addr = "[::1]:0"
	}
	l, err := mp.Listen(context.Background(), network, addr, opts...)
	if err != nil {
		if network == "tcp6" && strings.Contains(err.Error(), "address") {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatalf("Listen(%s, %s): %v", network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// tctx is a bounded ctx for one test.
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rejects collects the handshake errors of a Listener (WithHandshakeErrorFunc).
type rejects chan error

func (r rejects) opt() mp.ConnOption { return mp.WithHandshakeErrorFunc(func(err error) { r <- err }) }

func (r rejects) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the listener reported no failed handshake within 10s")
		return nil
	}
}

// TestListenDial sends values and bytes both ways over every network, with and without an auth
// key, and sees the end of the stream at each side.
func TestListenDial(t *testing.T) {
	for _, network := range []string{"unix", "tcp", "tcp4", "tcp6"} {
		for _, keyed := range []bool{false, true} {
			name := network
			if keyed {
				name += "/key"
			}
			t.Run(name, func(t *testing.T) {
				ctx := tctx(t)
				var opts []mp.ConnOption
				if keyed {
					opts = append(opts, mp.WithAuthKey(testKey))
				}
				l := listenT(t, network, opts...)
				if network == "unix" {
					if _, err := os.Stat(l.Addr()); err != nil {
						t.Fatalf("the socket's file: %v", err)
					}
				}
				type result struct {
					c   *mp.Conn[Greeting]
					err error
				}
				accepted := make(chan result, 1)
				go func() {
					c, err := mp.Accept[Greeting](ctx, l)
					accepted <- result{c, err}
				}()
				c, err := mp.Dial[Greeting](ctx, network, l.Addr(), opts...)
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close()
				r := <-accepted
				if r.err != nil {
					t.Fatalf("Accept: %v", r.err)
				}
				s := r.c
				defer s.Close()
				if err := c.Send(ctx, Greeting{"client", 1}); err != nil {
					t.Fatal(err)
				}
				if ok, err := s.Poll(5 * time.Second); !ok || err != nil {
					t.Fatalf("Poll = %v, %v; want true", ok, err)
				}
				if g, err := s.Recv(ctx); err != nil || g != (Greeting{"client", 1}) {
					t.Fatalf("server Recv = %v, %v", g, err)
				}
				if ok, err := s.Poll(0); ok || err != nil {
					t.Fatalf("Poll(0) with nothing sent = %v, %v; want false", ok, err)
				}
				big := make([]byte, 300<<10) // over the single-write size, and the read-ahead
				for i := range big {
					big[i] = byte(i * 7)
				}
				errc := make(chan error, 1)
				go func() { errc <- s.SendBytes(ctx, big) }()
				b, err := c.RecvBytes(ctx)
				if err != nil || string(b) != string(big) {
					t.Fatalf("client RecvBytes: %d bytes, %v; want the %d sent", len(b), err, len(big))
				}
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
				if err := s.SendBytes(ctx, nil); err != nil {
					t.Fatal(err)
				}
				if b, err := c.RecvBytes(ctx); err != nil || len(b) != 0 {
					t.Fatalf("an empty message arrived as %q, %v", b, err)
				}
				if !strings.Contains(c.String(), network) {
					t.Errorf("String = %q, want the network in it", c)
				}
				s.Close()
				if _, err := c.Recv(ctx); err != io.EOF {
					t.Fatalf("Recv after the peer's Close = %v, want io.EOF", err)
				}
				if _, err := s.Recv(ctx); !errors.Is(err, mp.ErrClosed) {
					t.Fatalf("Recv after Close = %v, want ErrClosed", err)
				}
				l.Close()
				if network == "unix" {
					if _, err := os.Stat(l.Addr()); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("the socket's file after Close: %v, want it gone", err)
					}
				}
			})
		}
	}
}

// TestListenAuthMismatch: another key fails on both sides with ErrAuthentication.
func TestListenAuthMismatch(t *testing.T) {
	ctx := tctx(t)
	rej := make(rejects, 4)
	l := listenT(t, "tcp", mp.WithAuthKey(testKey), rej.opt())
	_, err := mp.Dial[int](ctx, "tcp", l.Addr(), mp.WithAuthKey([]byte("another key")))
	if !errors.Is(err, mp.ErrAuthentication) {
		t.Fatalf("Dial with another key: %v, want ErrAuthentication", err)
	}
	if err := rej.next(t); !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("the listener's error: %v, want ErrAuthentication naming the peer", err)
	}
	// The listener goes on: a client with the key gets through.
	go func() {
		c, err := mp.Dial[int](ctx, "tcp", l.Addr(), mp.WithAuthKey(testKey))
		if err == nil {
			c.Send(ctx, 42)
			c.Recv(ctx) // until the server closes
			c.Close()
		}
	}()
	s, err := mp.Accept[int](ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Recv(ctx); err != nil || v != 42 {
		t.Fatalf("Recv = %v, %v", v, err)
	}
}

// TestListenKeyOnOneSide: a key on one side only fails, never deadlocks, both ways.
func TestListenKeyOnOneSide(t *testing.T) {
	t.Run("client", func(t *testing.T) {
		// The listener has no key: it sends no challenge, and the client's wait for one is
		// bounded by its handshake timeout.
		ctx := tctx(t)
		l := listenT(t, "tcp")
		done := make(chan error, 1)
		go func() {
			s, err := mp.Accept[int](ctx, l)
			if err == nil {
				_, err = s.Recv(ctx) // the client sends nothing, and goes
				s.Close()
			}
			done <- err
		}()
		_, err := mp.Dial[int](ctx, "tcp", l.Addr(), mp.WithAuthKey(testKey), mp.WithHandshakeTimeout(200*time.Millisecond))
		if !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "WithHandshakeTimeout") {
			t.Fatalf("Dial with a key to a listener without: %v, want ErrAuthentication", err)
		}
		if err := <-done; err != io.EOF {
			t.Fatalf("the server's Recv: %v, want io.EOF", err)
		}
	})
	t.Run("listener", func(t *testing.T) {
		// The client has no key: the challenge is what it receives first, and what it sends
		// first is taken for a wrong digest.
		ctx := tctx(t)
		rej := make(rejects, 4)
		l := listenT(t, "tcp", mp.WithAuthKey(testKey), rej.opt())
		c, err := mp.Dial[int](ctx, "tcp", l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Send(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Recv(ctx); !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "WithAuthKey") {
			t.Fatalf("Recv of a client without a key: %v, want ErrAuthentication naming WithAuthKey", err)
		}
		if err := rej.next(t); !errors.Is(err, mp.ErrAuthentication) {
			t.Fatalf("the listener's error: %v, want ErrAuthentication", err)
		}
		// Recv first, without sending: the same.
		c2, err := mp.Dial[int](ctx, "tcp", l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if _, err := c2.Recv(ctx); !errors.Is(err, mp.ErrAuthentication) {
			t.Fatalf("Recv of a client without a key: %v, want ErrAuthentication", err)
		}
		if err := rej.next(t); !errors.Is(err, mp.ErrAuthentication) {
			t.Fatalf("the listener's error: %v, want ErrAuthentication", err)
		}
	})
}

// TestListenOptions: bad options and addresses are ErrInvalidOption errors that say what to do.
func TestListenOptions(t *testing.T) {
	ctx := tctx(t)
	for _, tc := range []struct {
		name, network, addr string
		opts                []mp.ConnOption
		want                string
	}{
		{"empty key", "tcp", "127.0.0.1:0", []mp.ConnOption{mp.WithAuthKey(nil)}, "empty key"},
		{"empty key", "tcp", "127.0.0.1:0", []mp.ConnOption{mp.WithAuthKey([]byte{})}, "empty key"},
		{"exposed", "tcp", "0.0.0.0:0", nil, "WithInsecureListen"},
		{"exposed v6", "tcp6", "[::]:0", nil, "WithInsecureListen"},
		{"host name", "tcp", "example.com:80", nil, "mpnet.Listen"},
		{"network", "udp", "127.0.0.1:0", nil, `"tcp"`},
		{"no port", "tcp", "127.0.0.1", nil, "no port"},
		{"bad port", "tcp", "127.0.0.1:70000", nil, "port"},
		{"v6 on tcp4", "tcp4", "[::1]:0", nil, "tcp4"},
		{"long path", "unix", "/" + strings.Repeat("x", 200), nil, "shorter path"},
		{"timeout", "tcp", "127.0.0.1:0", []mp.ConnOption{mp.WithHandshakeTimeout(0)}, "positive"},
		{"max message", "tcp", "127.0.0.1:0", []mp.ConnOption{mp.WithMaxMessage(0)}, "WithMaxMessage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := mp.Listen(ctx, tc.network, tc.addr, tc.opts...)
			if err == nil {
				l.Close()
			}
			if !errors.Is(err, mp.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Listen: %v, want ErrInvalidOption saying %q", err, tc.want)
			}
			if tc.name == "exposed" || tc.name == "exposed v6" {
				return
			}
			_, err = mp.Dial[int](ctx, tc.network, tc.addr, tc.opts...)
			if !errors.Is(err, mp.ErrInvalidOption) {
				t.Fatalf("Dial: %v, want ErrInvalidOption", err)
			}
		})
	}
	// What the errors ask for is allowed.
	for _, o := range []mp.ConnOption{mp.WithInsecureListen(), mp.WithAuthKey(testKey)} {
		l, err := mp.Listen(ctx, "tcp", "0.0.0.0:0", o)
		if err != nil {
			t.Fatalf("Listen on 0.0.0.0 with %T: %v", o, err)
		}
		l.Close()
	}
	// Listener options on Dial.
	_, err := mp.Dial[int](ctx, "tcp", "127.0.0.1:1", mp.WithInsecureListen())
	if !errors.Is(err, mp.ErrInvalidOption) || !strings.Contains(err.Error(), "WithInsecureListen") {
		t.Fatalf("Dial with WithInsecureListen: %v", err)
	}
}

// TestListenCloseAndCtx: Accept is bounded by its ctx and ended by Close; Dial to nobody fails.
func TestListenCloseAndCtx(t *testing.T) {
	ctx := tctx(t)
	l := listenT(t, "unix")
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := mp.Accept[int](cctx, l); errc <- err }()
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Accept with a cancelled ctx: %v", err)
	}
	go func() { _, err := mp.Accept[int](ctx, l); errc <- err }()
	l.Close()
	if err := <-errc; !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Accept ended by Close: %v, want ErrClosed", err)
	}
	if _, err := mp.Accept[int](ctx, l); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := mp.Dial[int](ctx, "unix", l.Addr()); err == nil || errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Dial to a closed listener: %v, want the connect's error", err)
	}
	var zero *mp.Listener
	if _, err := mp.Accept[int](ctx, zero); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Accept on a nil Listener: %v", err)
	}
}

// TestListenLimits: a message over the limit is refused as it arrives and the Conn goes on; a
// value holding a handle is refused before anything is sent; the Conn does not cross to a child.
func TestListenLimits(t *testing.T) {
	ctx := tctx(t)
	l := listenT(t, "tcp", mp.WithMaxMessage(100))
	c, err := mp.Dial[FileArg](ctx, "tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := mp.Accept[FileArg](ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := c.SendBytes(ctx, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, FileArg{Text: "after"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecvBytes(ctx); !errors.Is(err, mp.ErrTooLarge) {
		t.Fatalf("RecvBytes of 1000 bytes over a limit of 100: %v, want ErrTooLarge", err)
	}
	if v, err := s.Recv(ctx); err != nil || v.Text != "after" {
		t.Fatalf("Recv after a refused message: %+v, %v", v, err)
	}
	if err := s.SendBytes(ctx, make([]byte, 101)); !errors.Is(err, mp.ErrTooLarge) {
		t.Fatalf("SendBytes over the limit: %v, want ErrTooLarge", err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = c.Send(ctx, FileArg{Inner: struct{ F *os.File }{f}})
	if !errors.Is(err, mp.ErrNotSupported) || !strings.Contains(err.Error(), "handle (file)") {
		t.Fatalf("Send of a file: %v, want ErrNotSupported naming it", err)
	}
	ic, err := mp.Dial[int](ctx, "tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if _, err := mp.Run(ctx, PipeSend3, ic); !errors.Is(err, mp.ErrNotSupported) {
		t.Fatalf("a network Conn in a task argument: %v, want ErrNotSupported", err)
	}
}

// DialArg tells a child where to dial.
type DialArg struct {
	Network, Addr string
	Key           []byte
}

// DialBack dials the parent's listener, receives numbers and sends back their squares until
// the parent closes.
var DialBack = mp.Register("test.dial_back", func(ctx context.Context, a DialArg) (int, error) {
	c, err := mp.Dial[int](ctx, a.Network, a.Addr, mp.WithAuthKey(a.Key))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n := 0
	for {
		v, err := c.Recv(ctx)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if err := c.Send(ctx, v*v); err != nil {
			return n, err
		}
		n++
	}
})

// TestListenChild: a child process dials its parent's listener with the key.
func TestListenChild(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			ctx := tctx(t)
			l := listenT(t, network, mp.WithAuthKey(testKey))
			p := mp.NewProcess(DialBack, DialArg{network, l.Addr(), testKey})
			if err := p.Start(ctx); err != nil {
				t.Fatal(err)
			}
			s, err := mp.Accept[int](ctx, l)
			if err != nil {
				p.Kill()
				p.Wait(ctx)
				t.Fatal(err)
			}
			for i := range 5 {
				if err := s.Send(ctx, i); err != nil {
					t.Fatal(err)
				}
				if v, err := s.Recv(ctx); err != nil || v != i*i {
					t.Fatalf("Recv = %d, %v; want %d", v, err, i*i)
				}
			}
			s.Close()
			if err := p.Wait(ctx); err != nil {
				t.Fatalf("the child: %v", err)
			}
		})
	}
}

// rawDial connects to l without mp's framing: the hostile peer of the tests.
func rawDial(t *testing.T, l *mp.Listener) *os.File {
	t.Helper()
	a, err := sock.ParseAddr("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	f, err := sock.Dial(tctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	f.SetDeadline(time.Now().Add(10 * time.Second))
	return f
}

// readToEOF reads what the listener sends until it closes the connection.
func readToEOF(t *testing.T, f *os.File) []byte {
	t.Helper()
	b, err := io.ReadAll(f)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Logf("read: %v", err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the listener did not close the hostile connection")
	}
	return b
}

// TestListenHostile: peers that break the handshake are dropped, one by one, at once, having
// made the listener read no more than the handshake's limit; a silent one does not keep others
// from being accepted.
func TestListenHostile(t *testing.T) {
	ctx := tctx(t)
	rej := make(rejects, 16)
	l := listenT(t, "tcp", mp.WithAuthKey(testKey), mp.WithHandshakeTimeout(time.Second), rej.opt())

	// A silent peer, first: the good client below must get through while it waits.
	silent := rawDial(t, l)

	for _, tc := range []struct {
		name string
		send []byte
		want error
	}{
		{"garbage", append(binary.BigEndian.AppendUint32(nil, 100), make([]byte, 100)...), mp.ErrAuthentication},
		{"huge length", binary.BigEndian.AppendUint32(nil, 0x7fffffff), mp.ErrAuthentication},
		{"4 GiB long length", binary.BigEndian.AppendUint64([]byte{0xff, 0xff, 0xff, 0xff}, 4<<30), mp.ErrAuthentication},
		{"negative length", []byte{0x80, 0, 0, 0}, mp.ErrProtocol},
		{"digest too long", append(binary.BigEndian.AppendUint32(nil, 257), make([]byte, 257)...), mp.ErrAuthentication},
		{"closes mid-message", binary.BigEndian.AppendUint32(nil, 50), mp.ErrAuthentication},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rawDial(t, l)
			if _, err := f.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.name == "closes mid-message" {
				f.Close()
			} else {
				got := readToEOF(t, f)
				if !strings.HasPrefix(string(got[4:]), "#CHALLENGE#{sha256}") {
					t.Fatalf("the listener sent %q, want its challenge first", got)
				}
			}
			if err := rej.next(t); !errors.Is(err, tc.want) {
				t.Fatalf("the listener's error: %v, want %v", err, tc.want)
			}
		})
	}

	c, err := mp.Dial[int](ctx, "tcp", l.Addr(), mp.WithAuthKey(testKey))
	if err != nil {
		t.Fatalf("a good client while a silent one waits: %v", err)
	}
	defer c.Close()
	s, err := mp.Accept[int](ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The silent peer is dropped once its handshake's time is up.
	if err := rej.next(t); !errors.Is(err, mp.ErrAuthentication) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the silent peer's error: %v, want ErrAuthentication and DeadlineExceeded", err)
	}
	readToEOF(t, silent)
}

// TestListenRecvResumes: a Recv cut short by its ctx in the middle of a message keeps what
// arrived, and the next Recv completes it; a broken frame closes the Conn; the end of the stream
// in a message is an ErrProtocol error.
func TestListenRecvResumes(t *testing.T) {
	ctx := tctx(t)
	l := listenT(t, "tcp")
	f := rawDial(t, l)
	s, err := mp.Accept[string](ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.Write([]byte{0, 0, 0, 10, 'h', 'e', 'l'})
	// Poll returns once the first bytes are in the Conn's buffer; the Recv then takes them and
	// waits for the rest until its ctx ends.
	if ok, err := s.Poll(10 * time.Second); !ok || err != nil {
		t.Fatalf("Poll = %v, %v", ok, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.RecvBytes(short); err != context.DeadlineExceeded {
		t.Fatalf("RecvBytes cut short: %v, want context.DeadlineExceeded", err)
	}
	f.Write([]byte("lo worl"))
	f.Write([]byte{0, 0, 0, 1, '!'})
	if b, err := s.RecvBytes(ctx); err != nil || string(b) != "hello worl" {
		t.Fatalf("RecvBytes after a cut = %q, %v", b, err)
	}
	if b, err := s.RecvBytes(ctx); err != nil || string(b) != "!" {
		t.Fatalf("the next message: %q, %v", b, err)
	}

	f.Write([]byte{0xff, 0xff, 0xff, 0xf0})
	if _, err := s.RecvBytes(ctx); !errors.Is(err, mp.ErrProtocol) {
		t.Fatalf("RecvBytes of a negative length: %v, want ErrProtocol", err)
	}
	if _, err := s.RecvBytes(ctx); !errors.Is(err, mp.ErrProtocol) && !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("RecvBytes after a broken frame: %v", err)
	}

	f2 := rawDial(t, l)
	s2, err := mp.Accept[string](ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	f2.Write([]byte{0, 0, 0, 10, 'h'})
	f2.Close()
	if _, err := s2.Recv(ctx); !errors.Is(err, mp.ErrProtocol) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Recv of a message cut by the end: %v, want ErrProtocol and io.ErrUnexpectedEOF", err)
	}
}

// TestListenNoLeaks: failed handshakes, refused listeners, accepted and unaccepted connections
// leave no descriptor open once everything is closed.
func TestListenNoLeaks(t *testing.T) {
	ctx := tctx(t)
	before := settledFDs(t)
	func() {
		rej := make(rejects, 8)
		l, err := mp.Listen(ctx, "tcp", "127.0.0.1:0", mp.WithAuthKey(testKey), rej.opt())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := mp.Dial[int](ctx, "tcp", l.Addr(), mp.WithAuthKey([]byte("wrong"))); !errors.Is(err, mp.ErrAuthentication) {
			t.Fatalf("Dial with a wrong key: %v", err)
		}
		rej.next(t)
		c, err := mp.Dial[int](ctx, "tcp", l.Addr(), mp.WithAuthKey(testKey))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		s, err := mp.Accept[int](ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		// One authenticated and never accepted: Close closes it.
		c, err = mp.Dial[int](ctx, "tcp", l.Addr(), mp.WithAuthKey(testKey))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if _, err := mp.Listen(ctx, "tcp", "0.0.0.0:0"); err == nil {
			t.Fatal("Listen on 0.0.0.0 without a key worked")
		}
	}()
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open before, %d after", before, after)
	}
}
