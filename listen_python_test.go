//go:build unix

package mp_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// findPython returns a CPython of version v ("3.12"): python3.12 on PATH, or one that pyenv
// installed; or skips the test, saying which.
func findPython(t *testing.T, v string) string {
	t.Helper()
	var candidates []string
	roots := []string{os.Getenv("PYENV_ROOT")}
	if out, err := exec.Command("pyenv", "root").Output(); err == nil {
		roots = append(roots, strings.TrimSpace(string(out)))
	}
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, ".pyenv"))
	}
	for _, r := range roots {
		if r != "" {
			m, _ := filepath.Glob(filepath.Join(r, "versions", v+".*", "bin", "python3"))
			candidates = append(candidates, m...)
		}
	}
	if p, err := exec.LookPath("python" + v); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		// A pyenv shim may be on PATH for a version that is not selected: ask each.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, p, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
		cancel()
		if err == nil && strings.TrimSpace(string(out)) == v {
			return p
		}
	}
	t.Skipf("no Python %s here (neither in pyenv's versions nor python%s on PATH): the interoperation with it is not tested", v, v)
	return ""
}

// pythonListener and pythonClient are the two halves of CPython's side.
const pythonListener = `
import sys
from multiprocessing.connection import Listener
key = bytes.fromhex(sys.argv[1]) if sys.argv[1] else None
with Listener(('127.0.0.1', 0), authkey=key) as l:
    print(l.address[1], flush=True)
    try:
        with l.accept() as c:
            m = c.recv_bytes()
            c.send_bytes(m[::-1])
            c.send_bytes(b'x' * 100000)
            print('ok', flush=True)
    except Exception as e:
        print(type(e).__name__, flush=True)
`

const pythonClient = `
import sys
from multiprocessing.connection import Client
key = bytes.fromhex(sys.argv[1]) if sys.argv[1] else None
addr = sys.argv[2]
if not addr.startswith('/'):
    host, port = addr.rsplit(':', 1)
    addr = (host, int(port))
try:
    with Client(addr, authkey=key) as c:
        c.send_bytes(b'ping from python' * 2000)
        m = c.recv_bytes()
        print('got', m.decode(), flush=True)
except Exception as e:
    print(type(e).__name__, flush=True)
`

// startPython runs script with python and args, and returns its output's lines.
func startPython(t *testing.T, ctx context.Context, python, script string, args ...string) *bufio.Scanner {
	t.Helper()
	cmd := exec.CommandContext(ctx, python, append([]string{"-c", script}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return bufio.NewScanner(out)
}

func line(t *testing.T, sc *bufio.Scanner) string {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("Python ended without a word: %v", sc.Err())
	}
	return sc.Text()
}

// TestListenPython: CPython's Client talks to an mp Listener, and mp's Dial to CPython's
// Listener, with the same key; with another key, both sides fail. Python 3.11 and older speak
// the HMAC-MD5 scheme, which mp speaks under WithLegacyAuth only.
func TestListenPython(t *testing.T) {
	for _, v := range []string{"3.11", "3.12", "3.13"} {
		t.Run(v, func(t *testing.T) {
			python := findPython(t, v)
			legacy := v == "3.11"
			opts := []mp.ConnOption{mp.WithAuthKey(testKey)}
			if legacy {
				opts = append(opts, mp.WithLegacyAuth())
			}
			key := hex.EncodeToString(testKey)
			for _, network := range []string{"tcp", "unix"} {
				t.Run("client/"+network, func(t *testing.T) {
					ctx := tctx(t)
					l := listenT(t, network, opts...)
					out := startPython(t, ctx, python, pythonClient, key, l.Addr())
					s, err := mp.Accept[string](ctx, l)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					b, err := s.RecvBytes(ctx)
					if err != nil || string(b) != strings.Repeat("ping from python", 2000) {
						t.Fatalf("RecvBytes: %d bytes, %v", len(b), err)
					}
					if err := s.SendBytes(ctx, []byte("pong from go")); err != nil {
						t.Fatal(err)
					}
					if got := line(t, out); got != "got pong from go" {
						t.Fatalf("Python: %q", got)
					}
				})
			}
			t.Run("listener", func(t *testing.T) {
				ctx := tctx(t)
				out := startPython(t, ctx, python, pythonListener, key)
				port := line(t, out)
				c, err := mp.Dial[string](ctx, "tcp", "127.0.0.1:"+port, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := c.SendBytes(ctx, []byte("olleh")); err != nil {
					t.Fatal(err)
				}
				if b, err := c.RecvBytes(ctx); err != nil || string(b) != "hello" {
					t.Fatalf("RecvBytes = %q, %v", b, err)
				}
				if b, err := c.RecvBytes(ctx); err != nil || string(b) != strings.Repeat("x", 100000) {
					t.Fatalf("RecvBytes: %d bytes, %v", len(b), err)
				}
				if got := line(t, out); got != "ok" {
					t.Fatalf("Python: %q", got)
				}
			})
			t.Run("mismatch", func(t *testing.T) {
				ctx := tctx(t)
				wrong := hex.EncodeToString([]byte("not the key"))
				rej := make(rejects, 1)
				l := listenT(t, "tcp", append(opts, rej.opt())...)
				out := startPython(t, ctx, python, pythonClient, wrong, l.Addr())
				if err := rej.next(t); !errors.Is(err, mp.ErrAuthentication) {
					t.Fatalf("the listener's error: %v", err)
				}
				if got := line(t, out); got != "AuthenticationError" {
					t.Fatalf("Python's client: %q, want AuthenticationError", got)
				}
				out = startPython(t, ctx, python, pythonListener, wrong)
				port := line(t, out)
				if _, err := mp.Dial[string](ctx, "tcp", "127.0.0.1:"+port, opts...); !errors.Is(err, mp.ErrAuthentication) {
					t.Fatalf("Dial: %v, want ErrAuthentication", err)
				}
				if got := line(t, out); got != "AuthenticationError" {
					t.Fatalf("Python's listener: %q, want AuthenticationError", got)
				}
			})
			if legacy {
				t.Run("without WithLegacyAuth", func(t *testing.T) {
					ctx := tctx(t)
					out := startPython(t, ctx, python, pythonListener, key)
					port := line(t, out)
					_, err := mp.Dial[string](ctx, "tcp", "127.0.0.1:"+port, mp.WithAuthKey(testKey))
					if !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "WithLegacyAuth") {
						t.Fatalf("Dial to Python %s: %v, want ErrAuthentication naming WithLegacyAuth", v, err)
					}
					rej := make(rejects, 1)
					l := listenT(t, "tcp", mp.WithAuthKey(testKey), rej.opt())
					startPython(t, ctx, python, pythonClient, key, l.Addr())
					if err := rej.next(t); !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "WithLegacyAuth") {
						t.Fatalf("the listener's error: %v, want ErrAuthentication naming WithLegacyAuth", err)
					}
				})
			}
		})
	}
}
