package netns_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp/internal/netns"
)

// The test binary is its own child: run in a namespace with NETNS_CHILD set, it does what the
// variable says instead of running the tests.
const (
	childEnv = "NETNS_CHILD" // "listen", "dial" or "sleep"
	addrEnv  = "NETNS_ADDR"  // the address to listen on or dial
	nameEnv  = "NETNS_NAME"  // what the listener answers with
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "listen":
		os.Exit(childListen())
	case "dial":
		os.Exit(childDial())
	case "sleep":
		fmt.Println("ready", os.Getpid())
		select {}
	default:
		fmt.Fprintln(os.Stderr, "unknown", childEnv, os.Getenv(childEnv))
		os.Exit(2)
	}
}

// childListen listens on $NETNS_ADDR, prints "listening ADDR" and answers each connection with
// "hello from $NETNS_NAME", until killed.
func childListen() int {
	l, err := net.Listen("tcp", os.Getenv(addrEnv))
	if err != nil {
		fmt.Println("fail", err)
		return 1
	}
	fmt.Println("listening", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		fmt.Fprintf(c, "hello from %s", os.Getenv(nameEnv))
		c.Close()
	}
}

// childDial dials $NETNS_ADDR with a 1 s timeout and prints "ok " and what it read, or "fail "
// and the error (exit status 3).
func childDial() int {
	c, err := net.DialTimeout("tcp", os.Getenv(addrEnv), time.Second)
	if err != nil {
		fmt.Println("fail", err)
		return 3
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		fmt.Println("fail", err)
		return 3
	}
	fmt.Println("ok", string(b))
	return 0
}

// start starts this test binary in h as a child of the given kind, waits (at most 10 s) for its
// first line and returns it with the running command; the child is killed at the test's end.
func start(t *testing.T, h *netns.Host, kind string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := h.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+kind)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		return cmd, s
	case <-time.After(10 * time.Second):
		t.Fatalf("the %s child in %s said nothing within 10 s", kind, h.Name)
		return nil, ""
	}
}

// listen starts a listener child in h and returns its address.
func listen(t *testing.T, h *netns.Host) (*exec.Cmd, string) {
	t.Helper()
	cmd, line := start(t, h, "listen", addrEnv+"="+net.JoinHostPort(h.Addr, "0"), nameEnv+"="+h.Name)
	addr, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		t.Fatalf("listener in %s: %q", h.Name, line)
	}
	return cmd, addr
}

// dial runs a dial child in h against addr and returns its line ("ok …" or "fail …").
func dial(t *testing.T, h *netns.Host, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := h.Command(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=dial", addrEnv+"="+addr)
	out, err := cmd.Output()
	s := strings.TrimSpace(string(out))
	if err != nil && !strings.HasPrefix(s, "fail") {
		t.Fatalf("dial child in %s: %v: %q", h.Name, err, s)
	}
	return s
}

// ipOut runs ip in the test's namespace.
func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ours returns the lines of s that name something of this process's Nets.
func ours(s string) []string {
	mine := netns.Prefix + strconv.FormatInt(int64(os.Getpid()), 32) + "x"
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, mine) {
			out = append(out, l)
		}
	}
	return out
}

// TestTwoHosts: a listener in one namespace is reached from the other over TCP; nothing beyond
// the link is reachable; with the link cut a dial fails, restored it works; after Close nothing
// is left.
func TestTwoHosts(t *testing.T) {
	n := netns.New(t, 2)
	a, b := n.Hosts()[0], n.Hosts()[1]
	if n.Root() != nil {
		t.Fatal("Root() without WithRoot is not nil")
	}
	_, addr := listen(t, a)
	if got, want := dial(t, b, addr), "ok hello from "+a.Name; got != want {
		t.Fatalf("dial %s from %s: %q, want %q", addr, b.Name, got, want)
	}

	// Only the link's subnet is routed: no default route, nothing else.
	routes, err := exec.Command("ip", "-n", b.Name, "route", "show").CombinedOutput()
	if err != nil {
		t.Fatal(err, string(routes))
	}
	lines := strings.Split(strings.TrimSpace(string(routes)), "\n")
	prefix := a.Addr[:strings.LastIndex(a.Addr, ".")] + ".0/24"
	if len(lines) != 1 || !strings.HasPrefix(lines[0], prefix+" dev eth0") {
		t.Fatalf("routes in %s: %q, want only %s on eth0", b.Name, routes, prefix)
	}
	if got := dial(t, b, "198.51.100.1:80"); !strings.Contains(got, "network is unreachable") {
		t.Fatalf("dial beyond the link from %s: %q, want network is unreachable", b.Name, got)
	}
	// The root namespace has none of it.
	if l := ours(ipOut(t, "-o", "link", "show")); len(l) > 0 {
		t.Fatalf("links of this test in the root namespace: %q", l)
	}
	if strings.Contains(ipOut(t, "-o", "addr", "show"), prefix[:len(prefix)-4]) {
		t.Fatalf("an address of %s in the root namespace", prefix)
	}

	if err := b.Cut(); err != nil {
		t.Fatal(err)
	}
	got := dial(t, b, addr)
	t.Logf("dial with b's link cut: %s", got)
	if !strings.HasPrefix(got, "fail") {
		t.Fatalf("dial with b's link cut: %q, want a failure", got)
	}
	if got := dial(t, a, addr); !strings.HasPrefix(got, "ok") {
		t.Fatalf("dial from a itself with b's link cut: %q", got)
	}
	if err := b.Restore(); err != nil {
		t.Fatal(err)
	}
	if got, want := dial(t, b, addr), "ok hello from "+a.Name; got != want {
		t.Fatalf("dial after Restore: %q, want %q", got, want)
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if l := ours(ipOut(t, "netns", "list")); len(l) > 0 {
		t.Fatalf("namespaces left after Close: %q", l)
	}
	if l := ours(ipOut(t, "-o", "link", "show")); len(l) > 0 {
		t.Fatalf("links left after Close: %q", l)
	}
}

// TestRoot: with WithRoot the test process reaches a host and a host reaches the test process;
// cutting the root's link stops both; Close removes the root's veth and its route.
func TestRoot(t *testing.T) {
	n := netns.New(t, 1, netns.WithRoot())
	h, root := n.Hosts()[0], n.Root()
	if root == nil || root.Name != "" {
		t.Fatalf("Root() = %+v, want the root namespace", root)
	}
	_, addr := listen(t, h)
	dialHere := func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	}
	if err := dialHere(); err != nil {
		t.Fatalf("dial %s from the test process: %v", addr, err)
	}

	l, err := net.Listen("tcp", net.JoinHostPort(root.Addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello from root")
			c.Close()
		}
	}()
	if got := dial(t, h, l.Addr().String()); got != "ok hello from root" {
		t.Fatalf("dial the test process from %s: %q", h.Name, got)
	}
	// A command on the root host runs here, not in a namespace.
	if got := dial(t, root, addr); !strings.HasPrefix(got, "ok") {
		t.Fatalf("dial child on the root host: %q", got)
	}

	if err := root.Cut(); err != nil {
		t.Fatal(err)
	}
	if err := dialHere(); err == nil {
		t.Fatal("dial with the root's link cut succeeded")
	}
	if err := root.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := dialHere(); err != nil {
		t.Fatalf("dial after Restore: %v", err)
	}

	subnet := root.Addr[:strings.LastIndex(root.Addr, ".")+1]
	if !strings.Contains(ipOut(t, "route", "show"), subnet+"0/24") {
		t.Fatalf("no route to %s0/24 in the root namespace", subnet)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if l := ours(ipOut(t, "-o", "link", "show")); len(l) > 0 {
		t.Fatalf("links left after Close: %q", l)
	}
	if strings.Contains(ipOut(t, "route", "show"), subnet+"0/24") {
		t.Fatalf("a route to %s0/24 left after Close", subnet)
	}
}

// TestCloseKills: a command started in a host is the program itself (its pid is cmd.Process's)
// and runs in the host's namespace; Close kills a process still running there, a stopped one too.
func TestCloseKills(t *testing.T) {
	n := netns.New(t, 1)
	h := n.Hosts()[0]
	cmd, line := start(t, h, "sleep")
	if want := fmt.Sprint("ready ", cmd.Process.Pid); line != want {
		t.Fatalf("sleep child: %q, want %q (ip netns exec must exec the program in place)", line, want)
	}
	if got := strings.TrimSpace(ipOut(t, "netns", "identify", strconv.Itoa(cmd.Process.Pid))); got != h.Name {
		t.Fatalf("the child runs in namespace %q, want %q", got, h.Name)
	}
	stopped, _ := start(t, n.Hosts()[0], "sleep")
	if err := stopped.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{cmd, stopped} {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("child ended with %v, want killed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a child in a closed Net still runs after 10 s")
		}
	}
}

// TestRemoveStale: a namespace named for a process that has died is removed by the next New;
// one of a live process is left alone.
func TestRemoveStale(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	// A pid that has just died: a finished child's.
	dead := exec.Command(os.Args[0], "-test.run=^$")
	dead.Env = append(os.Environ(), childEnv+"=none")
	dead.Run()
	staleName := netns.Prefix + strconv.FormatInt(int64(dead.ProcessState.Pid()), 32) + "x1-sw"
	liveName := netns.Prefix + strconv.FormatInt(int64(os.Getpid()), 32) + "xzz-sw"
	for _, name := range []string{staleName, liveName} {
		ipOut(t, "netns", "add", name)
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", staleName).Run()
		exec.Command("ip", "netns", "del", liveName).Run()
	})
	netns.New(t, 1)
	list := ipOut(t, "netns", "list")
	if strings.Contains(list, staleName) {
		t.Fatalf("stale namespace %s still there: %q", staleName, list)
	}
	if !strings.Contains(list, liveName) {
		t.Fatalf("the namespace of a live process was removed: %q", list)
	}
}

// TestSkipNotRoot: run as an ordinary user, New skips the test and says why.
func TestSkipNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the test binary as another user")
	}
	// A copy of the test binary where user nobody can run it.
	dir, err := os.MkdirTemp("", "netns-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "netns.test")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestTwoHosts$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "GOCACHE="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the test binary as nobody: %v\n%s", err, out)
	}
	for _, want := range []string{"--- SKIP: TestTwoHosts", "netns: making network namespaces needs root (this test runs as uid 65534)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output as nobody lacks %q:\n%s", want, out)
		}
	}
}
