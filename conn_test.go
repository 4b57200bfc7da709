//go:build unix

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// EchoArg carries one end of a pipe to a child, which echoes what it receives until EOF.
type EchoArg struct {
	C      *mp.Conn[string]
	Prefix string
}

// FileArg carries files nested in a struct and a slice.
type FileArg struct {
	Out   *os.File
	More  []*os.File
	Inner struct{ F *os.File }
	Any   any
	Text  string
}

var (
	PipeEcho = mp.Register("test.pipe_echo", func(ctx context.Context, a EchoArg) (int, error) {
		defer a.C.Close()
		n := 0
		for {
			s, err := a.C.Recv(ctx)
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			if err := a.C.Send(ctx, a.Prefix+s); err != nil {
				return n, err
			}
			n++
		}
	})
	PipeSend3 = mp.Register("test.pipe_send3", func(ctx context.Context, c *mp.Conn[int]) (struct{}, error) {
		for i := range 3 {
			if err := c.Send(ctx, i); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, c.Close()
	})
	WriteFiles = mp.Register("test.write_files", func(ctx context.Context, a FileArg) (struct{}, error) {
		files := append([]*os.File{a.Out, a.Inner.F}, a.More...)
		if f, ok := a.Any.(*os.File); ok {
			files = append(files, f)
		}
		for i, f := range files {
			if _, err := fmt.Fprintf(f, "%s %d\n", a.Text, i); err != nil {
				return struct{}{}, err
			}
			f.Close()
		}
		return struct{}{}, nil
	})
	// RecvFile receives files over a Conn and writes to each.
	RecvFile = mp.Register("test.recv_file", func(ctx context.Context, c *mp.Conn[*os.File]) (int, error) {
		n := 0
		for {
			f, err := c.Recv(ctx)
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			fmt.Fprintf(f, "via conn %d\n", n)
			f.Close()
			n++
		}
	})
)

func TestPipeInProcess(t *testing.T) {
	ctx := ctxT(t)
	a, b, err := mp.Pipe[string]()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if ok, err := b.Poll(0); ok || err != nil {
		t.Fatalf("Poll(0) on an empty pipe = %v, %v; want false, nil", ok, err)
	}
	start := time.Now()
	if ok, err := b.Poll(30 * time.Millisecond); ok || err != nil || time.Since(start) < 25*time.Millisecond {
		t.Fatalf("Poll(30ms) on an empty pipe = %v, %v after %v; want false, nil after 30ms", ok, err, time.Since(start))
	}
	for _, s := range []string{"hello", "", strings.Repeat("x", 200<<10)} {
		if err := a.Send(ctx, s); err != nil {
			t.Fatal(err)
		}
		if ok, err := b.Poll(time.Second); !ok || err != nil {
			t.Fatalf("Poll after Send = %v, %v", ok, err)
		}
		got, err := b.Recv(ctx)
		if err != nil || got != s {
			t.Fatalf("Recv = %.20q (%d bytes), %v; want %.20q", got, len(got), err, s)
		}
	}
	// Duplex: the other way too, and raw bytes.
	if err := b.SendBytes(ctx, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	if got, err := a.RecvBytes(ctx); err != nil || string(got) != "raw" {
		t.Fatalf("RecvBytes = %q, %v", got, err)
	}
	// Bytes arriving at Recv: a clear error, and the pipe still works.
	b.SendBytes(ctx, []byte{0xff, 0x00})
	if _, err := a.Recv(ctx); !errors.Is(err, mp.ErrDecode) || !strings.Contains(err.Error(), "RecvBytes") {
		t.Fatalf("Recv of a SendBytes message: %v; want ErrDecode naming RecvBytes", err)
	}
	b.Send(ctx, "after")
	if got, err := a.Recv(ctx); err != nil || got != "after" {
		t.Fatalf("Recv after a bad message = %q, %v", got, err)
	}
	// A ctx that ends bounds Recv.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := a.Recv(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv with an expiring ctx: %v; want DeadlineExceeded", err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(10*time.Millisecond, ccancel)
	if _, err := a.Recv(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv with a cancelled ctx: %v; want Canceled", err)
	}
	// The pipe works after a cancelled Recv.
	b.Send(ctx, "still")
	if got, err := a.Recv(ctx); err != nil || got != "still" {
		t.Fatalf("Recv after a cancelled Recv = %q, %v", got, err)
	}
	// Queued messages are drained before EOF.
	b.Send(ctx, "last")
	b.Close()
	if got, err := a.Recv(ctx); err != nil || got != "last" {
		t.Fatalf("Recv before EOF = %q, %v", got, err)
	}
	if ok, err := a.Poll(0); !ok || err != nil {
		t.Fatalf("Poll at EOF = %v, %v; want true (readable: the end)", ok, err)
	}
	if _, err := a.Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the peer closed: %v; want io.EOF", err)
	}
	if err := a.Send(ctx, "x"); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Send to a closed peer: %v; want EPIPE", err)
	}
	// Use after Close.
	if _, err := b.Recv(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Recv on a closed end: %v; want ErrClosed", err)
	}
	if err := b.Send(ctx, "x"); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Send on a closed end: %v; want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPipeCloseUnblocksRecv(t *testing.T) {
	a, b, err := mp.Pipe[int]()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	done := make(chan error)
	go func() {
		_, err := a.Recv(context.Background())
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	if err := <-done; !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Recv blocked during Close: %v; want ErrClosed", err)
	}
}

func TestPipeOneWay(t *testing.T) {
	ctx := ctxT(t)
	r, w, err := mp.Pipe[int](mp.OneWay())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := r.Send(ctx, 1); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Send on the receive end: %v", err)
	}
	if _, err := w.Recv(ctx); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Recv on the send end: %v", err)
	}
	if err := w.Send(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Recv(ctx); v != 5 || err != nil {
		t.Fatalf("Recv = %d, %v", v, err)
	}
}

// TestPipeToChild hands one end to a child in its argument: the child echoes until it sees EOF,
// which happens only once the parent closes its copy of the other end.
func TestPipeToChild(t *testing.T) {
	ctx := ctxT(t)
	mine, theirs, err := mp.Pipe[string]()
	if err != nil {
		t.Fatal(err)
	}
	p := mp.NewProcess(PipeEcho, EchoArg{C: theirs, Prefix: "echo: "})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	theirs.Close() // the child has its own copy now
	for _, s := range []string{"a", "b", "c"} {
		if err := mine.Send(ctx, s); err != nil {
			t.Fatal(err)
		}
		if got, err := mine.Recv(ctx); err != nil || got != "echo: "+s {
			t.Fatalf("echo of %q = %q, %v", s, got, err)
		}
	}
	mine.Close()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// TestPipeEOFFromChild: the child sends three values and closes its end; the parent, having
// closed its copy of that end, receives the three and then io.EOF.
func TestPipeEOFFromChild(t *testing.T) {
	ctx := ctxT(t)
	r, w, err := mp.Pipe[int](mp.OneWay())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := mp.NewProcess(PipeSend3, w)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for i := range 3 {
		if v, err := r.Recv(ctx); err != nil || v != i {
			t.Fatalf("Recv %d = %d, %v", i, v, err)
		}
	}
	if _, err := r.Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the child closed: %v; want io.EOF", err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// osPipe returns a pipe whose read end the test reads all of.
func osPipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func TestFileHandlesInArgument(t *testing.T) {
	ctx := ctxT(t)
	var rs []*os.File
	var ws []*os.File
	for range 5 {
		r, w := osPipe(t)
		rs = append(rs, r)
		ws = append(ws, w)
	}
	arg := FileArg{Out: ws[0], More: []*os.File{ws[2], ws[3]}, Any: ws[4], Text: "hi"}
	arg.Inner.F = ws[1]
	p := mp.NewProcess(WriteFiles, arg)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The caller's value is untouched: its files are its own and still open.
	if arg.Out != ws[0] || arg.More[0] != ws[2] || arg.Inner.F != ws[1] || arg.Any != ws[4] {
		t.Fatal("encoding a handle changed the caller's argument")
	}
	for i, w := range ws {
		w.Close()
		b, err := io.ReadAll(rs[i])
		if err != nil {
			t.Fatal(err)
		}
		// order of writes in the child: Out, Inner.F, More..., Any
		want := map[int]string{0: "hi 0\n", 1: "hi 1\n", 2: "hi 2\n", 3: "hi 3\n", 4: "hi 4\n"}[i]
		if string(b) != want {
			t.Errorf("file %d got %q; want %q", i, b, want)
		}
	}
}

func TestHandlesOverConn(t *testing.T) {
	ctx := ctxT(t)
	mine, theirs, err := mp.Pipe[*os.File]()
	if err != nil {
		t.Fatal(err)
	}
	p := mp.NewProcess(RecvFile, theirs)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	var rs []*os.File
	for range 3 {
		r, w := osPipe(t)
		if err := mine.Send(ctx, w); err != nil {
			t.Fatal(err)
		}
		w.Close() // the message holds its own copy
		rs = append(rs, r)
	}
	mine.Close()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		b, _ := io.ReadAll(r)
		if want := fmt.Sprintf("via conn %d\n", i); string(b) != want {
			t.Errorf("file %d: %q; want %q", i, b, want)
		}
	}
}

func TestHandleErrors(t *testing.T) {
	ctx := ctxT(t)
	_, w := osPipe(t)
	w.Close()
	p := mp.NewProcess(WriteFiles, FileArg{Out: w})
	err := p.Start(ctx)
	if !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "closed") || !strings.Contains(err.Error(), "Out") {
		t.Fatalf("Start with a closed file: %v; want ErrEncode naming the field and saying it is closed", err)
	}
	a, b, _ := mp.Pipe[string]()
	b.Close()
	p = mp.NewProcess(PipeEcho, EchoArg{C: b})
	if err := p.Start(ctx); !errors.Is(err, mp.ErrClosed) && !errors.Is(err, mp.ErrEncode) {
		t.Fatalf("Start with a closed Conn: %v", err)
	}
	a.Close()
	// Handles in a map cannot be placed on the other side.
	_, w2 := osPipe(t)
	p = mp.NewProcess(WriteFiles, FileArg{Any: map[string]*os.File{"x": w2}})
	if err := p.Start(ctx); !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "map") {
		t.Fatalf("Start with a file in a map: %v; want ErrEncode about maps", err)
	}
}

// NetArg holds a network connection, which needs mpnet to travel.
type NetArg struct {
	C syscallConn
}

// syscallConn stands for net.Conn without importing net here: any descriptor-backed value that
// is not an *os.File and has no registered kind.
type syscallConn interface {
	SyscallConn() (syscall.RawConn, error)
}

// fakeSock is a descriptor-backed value of a type mp does not know.
type fakeSock struct{ f *os.File }

func (s fakeSock) SyscallConn() (syscall.RawConn, error) { return s.f.SyscallConn() }

var TakeNet = mp.Register("test.take_net", func(ctx context.Context, a NetArg) (struct{}, error) {
	return struct{}{}, nil
})

func TestUnknownDescriptorType(t *testing.T) {
	_, w := osPipe(t)
	p := mp.NewProcess(TakeNet, NetArg{C: fakeSock{w}})
	if err := p.Start(ctxT(t)); !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "mpnet") {
		t.Fatalf("Start with an unknown descriptor-backed type: %v; want ErrEncode naming mpnet", err)
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// settledFDs returns the number of open descriptors once the cleanups of handles that earlier
// tests dropped without Close have run: it collects garbage until three counts in a row agree
// (for at most two seconds), so that such a cleanup does not close a descriptor mid-test.
func settledFDs(t *testing.T) int {
	t.Helper()
	n, same := openFDs(t), 0
	for deadline := time.Now().Add(2 * time.Second); same < 3 && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(5 * time.Millisecond) // cleanups run on their own goroutine, after the GC
		if m := openFDs(t); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// TestHandlesNoDescriptorLeak passes files and conns to children (and fails to, on purpose) and
// checks that the parent holds no more descriptors afterwards than before.
func TestHandlesNoDescriptorLeak(t *testing.T) {
	ctx := ctxT(t)
	before := settledFDs(t)
	for range 3 {
		r, w, _ := os.Pipe()
		arg := FileArg{Out: w, More: []*os.File{w, w}, Text: "x"}
		arg.Inner.F = w
		if err := mp.NewProcess(WriteFiles, arg).Start(ctx); err != nil {
			t.Fatal(err)
		}
		w.Close()
		io.ReadAll(r)
		r.Close()
		mine, theirs, _ := mp.Pipe[string]()
		p := mp.NewProcess(PipeEcho, EchoArg{C: theirs})
		p.Start(ctx)
		theirs.Close()
		mine.Close()
		p.Wait(ctx)
		// A failed start: a closed file after an open one.
		r2, w2, _ := os.Pipe()
		r2.Close()
		if err := mp.NewProcess(WriteFiles, FileArg{Out: w2, More: []*os.File{r2}}).Start(ctx); err == nil {
			t.Fatal("Start with a closed file succeeded")
		}
		w2.Close()
	}
	for _, p := range mp.ActiveChildren() {
		p.Wait(ctx)
	}
	if after := settledFDs(t); after != before {
		t.Fatalf("open descriptors: %d before, %d after", before, after)
	}
}

// TestPipeMaxMessage: a message over the pipe's limit is refused by the sender; the limit
// travels with an end passed over another Conn; options out of range are refused.
func TestPipeMaxMessage(t *testing.T) {
	ctx := ctxT(t)
	a, b, err := mp.Pipe[[]byte](mp.WithMaxMessage(100))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	if err := a.SendBytes(ctx, make([]byte, 101)); !errors.Is(err, mp.ErrTooLarge) || !strings.Contains(err.Error(), "WithMaxMessage") {
		t.Fatalf("SendBytes over the limit: %v; want ErrTooLarge naming mp.WithMaxMessage", err)
	}
	if err := a.SendBytes(ctx, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if got, err := b.RecvBytes(ctx); err != nil || len(got) != 100 {
		t.Fatalf("RecvBytes = %d bytes, %v", len(got), err)
	}
	// Pass b over another pipe: its copy keeps the limit.
	x, y, err := mp.Pipe[*mp.Conn[[]byte]]()
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	defer y.Close()
	if err := x.Send(ctx, b); err != nil {
		t.Fatal(err)
	}
	b2, err := y.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if err := b2.Send(ctx, make([]byte, 101)); !errors.Is(err, mp.ErrTooLarge) {
		t.Fatalf("Send over the limit from a copy of the end: %v; want ErrTooLarge", err)
	}
	for _, n := range []int{0, -1, 1 << 32} {
		if _, _, err := mp.Pipe[int](mp.WithMaxMessage(n)); !errors.Is(err, mp.ErrInvalidOption) {
			t.Errorf("WithMaxMessage(%d): %v; want ErrInvalidOption", n, err)
		}
	}
}

// TestPipeDecodeLimits: a message over the decoding limits is an ErrDecode error naming them,
// and the pipe goes on.
func TestPipeDecodeLimits(t *testing.T) {
	ctx := ctxT(t)
	a, b, err := mp.Pipe[[]int](mp.WithDecodeLimits(mp.DecodeLimits{MaxElements: 16}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	if err := a.Send(ctx, make([]int, 17)); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recv(ctx); !errors.Is(err, mp.ErrDecode) || !strings.Contains(err.Error(), "DecodeLimits") {
		t.Fatalf("17 elements, limit 16: %v; want ErrDecode naming mp.DecodeLimits", err)
	}
	if v, err := b.Recv(ctx); err != nil || len(v) != 3 {
		t.Fatalf("the next message: %v, %v", v, err)
	}
	for _, l := range []mp.DecodeLimits{{MaxDepth: 2}, {MaxElements: 3}, {MaxPairs: -1}, {MaxDepth: 1 << 20}} {
		if _, _, err := mp.Pipe[int](mp.WithDecodeLimits(l)); !errors.Is(err, mp.ErrInvalidOption) {
			t.Errorf("WithDecodeLimits(%+v): %v; want ErrInvalidOption", l, err)
		}
	}
}

// PipeLimitChild checks, in a child, that the end it received keeps its pipe's limit.
var PipeLimitChild = mp.Register("test.pipe_limit", func(ctx context.Context, c *mp.Conn[[]byte]) (int, error) {
	defer c.Close()
	if err := c.SendBytes(ctx, make([]byte, 101)); !errors.Is(err, mp.ErrTooLarge) {
		return 0, fmt.Errorf("SendBytes over the limit: %v; want ErrTooLarge", err)
	}
	b, err := c.RecvBytes(ctx)
	return len(b), err
})

// TestPipeLimitInChild: the limits of an end travel with it to a child process.
func TestPipeLimitInChild(t *testing.T) {
	ctx := ctxT(t)
	mine, theirs, err := mp.Pipe[[]byte](mp.WithMaxMessage(100))
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	p := mp.NewProcess(PipeLimitChild, theirs)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	if err := mine.SendBytes(ctx, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("child: %v", err)
	}
}
