//go:build linux

package shmtable

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary is also the child processes of the multi-process tests: TestMain runs a child's
// part when envChild names one. The child finds the table on descriptor 3.
const envChild = "SHMTABLE_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		os.Exit(runChild(strings.Fields(mode)))
	}
	os.Exit(m.Run())
}

func runChild(args []string) int {
	t, err := Attach(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: attach:", err)
		return 2
	}
	defer t.Close()
	ctx := context.Background()
	switch args[0] {
	case "incr": // incr N: N Locked increments of the counter
		n, _ := strconv.Atoi(args[1])
		for range n {
			if err := increment(ctx, t); err != nil {
				fmt.Fprintln(os.Stderr, "child: increment:", err)
				return 1
			}
		}
		return 0
	case "crash": // crash POINT N: the script, killing itself at the Nth time it reaches POINT
		setCrash(args[1], args[2])
		for i := 1; ; i++ {
			if err := scriptOp(ctx, t, i); err != nil && !errors.Is(err, ErrOwnerDead) {
				fmt.Fprintln(os.Stderr, "child: op", i, err)
				return 1
			}
		}
	case "batchcrash": // batchcrash POINT N: the batch script, killing itself at the Nth POINT
		setCrash(args[1], args[2])
		for b := 1; ; b++ {
			if err := batchOp(ctx, t, b); err != nil && !errors.Is(err, ErrOwnerDead) {
				fmt.Fprintln(os.Stderr, "child: batch", b, err)
				return 1
			}
		}
	case "recover": // recover POINT N: take the lock (recovering the table), killing itself at the Nth POINT
		setCrash(args[1], args[2])
		_, err := t.Len(ctx)
		fmt.Fprintln(os.Stderr, "child: Len returned", err, "without reaching", args[1])
		return 1
	case "batchloop": // batchloop: the batch script until killed, saying "ready" after the first
		for b := 1; ; b++ {
			if err := batchOp(ctx, t, b); err != nil && !errors.Is(err, ErrOwnerDead) {
				fmt.Fprintln(os.Stderr, "child: batch", b, err)
				return 1
			}
			if b == 1 {
				os.Stdout.WriteString("ready\n")
			}
		}
	case "loop": // loop: the script until killed, saying "ready" after its first op
		for i := 1; ; i++ {
			if err := scriptOp(ctx, t, i); err != nil && !errors.Is(err, ErrOwnerDead) {
				fmt.Fprintln(os.Stderr, "child: op", i, err)
				return 1
			}
			if i == 1 {
				os.Stdout.WriteString("ready\n")
			}
		}
	case "outlive": // outlive: say ready, wait for stdin to close, then print the value of "k"
		os.Stdout.WriteString("ready\n")
		io.Copy(io.Discard, os.Stdin)
		v, _, found, err := t.Get(ctx, []byte("k"), nil)
		fmt.Printf("%s %v %v\n", v, found, err)
		return 0
	case "hammer": // hammer: Get and Set one small entry until killed
		key, val := []byte("hammer"), make([]byte, 16)
		var dst []byte
		os.Stdout.WriteString("ready\n")
		for {
			t.Set(ctx, key, val)
			dst, _, _, _ = t.Get(ctx, key, dst[:0])
		}
	}
	fmt.Fprintln(os.Stderr, "child: unknown mode", args)
	return 2
}

// setCrash makes the child kill itself the nth time it reaches point.
func setCrash(point, nth string) {
	want, _ := strconv.Atoi(nth)
	n := 0
	crashHook = func(p string) {
		if p == point {
			if n++; n == want {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
	}
}

var counterKey = []byte("counter")

// increment adds 1 to the 8-byte counter under the lock.
func increment(ctx context.Context, t *Table) error {
	return t.Locked(ctx, func(tx *Tx) error {
		v, _, _, err := tx.Peek(counterKey)
		if err != nil {
			return err
		}
		var n uint64
		if len(v) == 8 {
			n = binary.LittleEndian.Uint64(v)
		}
		_, err = tx.Set(counterKey, binary.LittleEndian.AppendUint64(nil, n+1))
		return err
	})
}

// The script is a deterministic sequence of operations that reaches every crash point: Sets of
// 257 keys with values of 0 to 599 bytes (so the index and the file grow), a Delete every fifth
// op, a Clear every 3000th.
const scriptKeys = 257

// The keys, and 600 bytes of each byte value, are made once: the child spends as little time as
// it can outside the table's lock, so that a kill at a random moment lands inside an operation.
var (
	scriptKeyNames = func() (ks []string) {
		for i := range scriptKeys {
			ks = append(ks, "key-"+strconv.Itoa(i))
		}
		return ks
	}()
	scriptFill = func() (f [256][]byte) {
		for b := range f {
			f[b] = bytes.Repeat([]byte{byte(b)}, 600)
		}
		return f
	}()
)

func scriptKey(i int) string { return scriptKeyNames[i%scriptKeys] }

func scriptVal(i int) []byte {
	v := make([]byte, 8, 8+i%600)
	binary.LittleEndian.PutUint64(v, uint64(i))
	return append(v, scriptFill[byte(i)][:i%600]...)
}

type scriptStep struct {
	clear, del bool
	key        string
	val        []byte
}

func scriptAt(i int) scriptStep {
	switch {
	case i%3000 == 0:
		return scriptStep{clear: true}
	case i%5 == 0:
		return scriptStep{del: true, key: scriptKey(i * 7)}
	}
	return scriptStep{key: scriptKey(i), val: scriptVal(i)}
}

func scriptOp(ctx context.Context, t *Table, i int) error {
	s := scriptAt(i)
	switch {
	case s.clear:
		return t.Clear(ctx)
	case s.del:
		_, err := t.Delete(ctx, []byte(s.key))
		return err
	}
	_, err := t.Set(ctx, []byte(s.key), s.val)
	return err
}

// child is a running child process of the test binary.
type child struct {
	cmd   *exec.Cmd
	out   *bufio.Reader
	stdin io.WriteCloser // with startChildStdin
}

// startChildStdin is startChild with a pipe to the child's stdin (c.stdin).
func startChildStdin(t testing.TB, tb *Table, mode string) *child {
	t.Helper()
	return startChildWith(t, tb, mode, true)
}

// startChild starts the test binary as a child in mode, with a duplicate of tb's descriptor as
// its descriptor 3.
func startChild(t testing.TB, tb *Table, mode string) *child {
	t.Helper()
	return startChildWith(t, tb, mode, false)
}

func startChildWith(t testing.TB, tb *Table, mode string, withStdin bool) *child {
	t.Helper()
	fd, err := tb.Dup()
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "table")
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+mode, "GORACE=atexit_sleep_ms=0")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdin io.WriteCloser
	if withStdin {
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: bufio.NewReader(out), stdin: stdin}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// ready waits (at most 10 s) for the child's "ready" line: it has attached and run an op.
func (c *child) ready(t testing.TB) {
	t.Helper()
	if s := c.line(t); s != "ready\n" {
		t.Fatalf("child said %q, not ready", s)
	}
}

// line returns the child's next line of output, waiting at most 10 s (then killing it).
func (c *child) line(t testing.TB) string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		s, _ := c.out.ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		return s
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-line
		t.Fatal("the child said nothing within 10 s")
	}
	return ""
}

// wait waits (at most 20 s) for the child to end, and returns its state.
func (c *child) wait(t testing.TB) *os.ProcessState {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-done
		t.Fatal("the child did not end within 20 s")
	}
	return c.cmd.ProcessState
}

func killedBySIGKILL(st *os.ProcessState) bool {
	ws, ok := st.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// The batch script: batch b writes 20 keys in one Locked — deleting key k when (b+k)%7 == 0,
// else setting it to a value naming b and k, of 16 to 4,015 bytes — and every 50th batch begins
// with a Clear.
const batchKeys = 20

func batchKey(k int) string { return "batch-" + strconv.Itoa(k) }

func batchVal(b, k int) []byte {
	v := binary.LittleEndian.AppendUint64(nil, uint64(b))
	v = binary.LittleEndian.AppendUint64(v, uint64(k))
	for range (b * k * 7) % 4000 {
		v = append(v, byte(b))
	}
	return v
}

func batchOp(ctx context.Context, t *Table, b int) error {
	return t.Locked(ctx, func(tx *Tx) error {
		if b%50 == 0 {
			if err := tx.Clear(); err != nil {
				return err
			}
		}
		for k := range batchKeys {
			var err error
			if (b+k)%7 == 0 {
				_, err = tx.Delete([]byte(batchKey(k)))
			} else {
				_, err = tx.Set([]byte(batchKey(k)), batchVal(b, k))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// batchModel returns the table's contents after the first j batches.
func batchModel(j int) map[string]string {
	m := map[string]string{}
	for b := 1; b <= j; b++ {
		if b%50 == 0 {
			clear(m)
		}
		for k := range batchKeys {
			if (b+k)%7 == 0 {
				delete(m, batchKey(k))
			} else {
				m[batchKey(k)] = string(batchVal(b, k))
			}
		}
	}
	return m
}
