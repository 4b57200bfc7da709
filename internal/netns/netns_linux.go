package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Prefix starts the name of every namespace and root-namespace link the package makes:
// Prefix + <pid in base 32> + "x" + <sequence in base 36>, then "-sw" for the switch and "-h<i>"
// for host i. The pid lets a later New tell a namespace whose test process died (and remove it)
// from one of a test running now. The pid is in base 32, whose digits (0-9, a-v) never include
// the "x" that ends it.
const Prefix = "mpnt"

// linkWait bounds how long Cut and Restore wait for the host's end of the link to change state.
const linkWait = 5 * time.Second

// seq numbers the Nets of this process.
var seq atomic.Int64

// Option configures New.
type Option interface{ apply(*config) }

type config struct{ root bool }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithRoot also links the root namespace, where the test process runs, to the switch: Net.Root
// returns it as a host with address 10.77.S.1, so that a server in the test process can be
// reached from the hosts (and the test can dial them). The only change to the root namespace
// is that veth end, its address and the subnet's route on it, all gone after Close.
func WithRoot() Option { return optionFunc(func(c *config) { c.root = true }) }

// Net is a set of hosts made of network namespaces, joined by a bridge in a switch namespace. It
// is safe for concurrent use. Making one costs about twenty ip commands for two hosts (tens of
// milliseconds); Close a few more.
type Net struct {
	ip     string // the ip command's path
	id     string // Prefix + pid32 + "x" + seq36
	subnet string // "10.77.S."
	sw     string // the switch namespace
	hosts  []*Host
	root   *Host

	mu     sync.Mutex
	closed bool
	made   []string // namespaces made, to delete
}

// Host is one host of a Net: a network namespace with one link, to the switch (or, for
// Net.Root, the root namespace's end of such a link). Its methods are safe for concurrent use.
type Host struct {
	// Name is the namespace's name, for `ip netns exec`; empty for the root namespace.
	Name string
	// Addr is the host's IPv4 address on its link, e.g. "10.77.3.2".
	Addr string

	net  *Net
	port string // the link's end in the switch namespace, a bridge port
	dev  string // the link's end in the host: "eth0", or the root namespace's veth
}

// New makes hosts network namespaces linked to one switch, each with an address on its link and
// no route beyond it, and registers their removal with t.Cleanup. It skips t, saying why, where
// namespaces cannot be made (not root, no ip command, a kernel that refuses); it fails t when
// they can be made but the rest of the set-up fails. Before making anything it removes the
// namespaces of earlier test processes that died without cleaning up.
func New(t testing.TB, hosts int, opts ...Option) *Net {
	t.Helper()
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	if hosts < 1 || hosts > 250 {
		t.Fatalf("netns: New(%d hosts): the count must be between 1 and 250", hosts)
	}
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("netns: making network namespaces needs root (this test runs as uid %d)", uid)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skipf("netns: the ip command is not installed (Debian: apt-get install iproute2): %v", err)
	}
	if err := RemoveStale(ip); err != nil {
		t.Logf("netns: removing stale namespaces: %v", err)
	}
	id := Prefix + strconv.FormatInt(int64(os.Getpid()), 32) + "x" + strconv.FormatInt(seq.Add(1), 36)
	n := &Net{ip: ip, id: id, sw: id + "-sw"}
	if n.subnet, err = n.pickSubnet(); err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("netns: %v", err)
		}
	})

	// The switch: a namespace with a bridge. Failing here means the machine cannot do it.
	if err := n.addNS(n.sw); err != nil {
		t.Skipf("netns: cannot make network namespaces here: %v", err)
	}
	if err := n.ipIn(n.sw, "link", "add", "br0", "type", "bridge"); err != nil {
		t.Skipf("netns: cannot make a bridge in a network namespace here: %v", err)
	}
	if err := n.ipIn(n.sw, "link", "set", "br0", "up"); err != nil {
		t.Fatalf("netns: %v", err)
	}
	for i := range hosts {
		h := &Host{Name: fmt.Sprintf("%s-h%d", id, i), Addr: fmt.Sprintf("%s%d", n.subnet, i+2), net: n,
			port: fmt.Sprintf("h%d", i), dev: "eth0"}
		if err := n.addNS(h.Name); err != nil {
			t.Fatalf("netns: %v", err)
		}
		// The veth pair is made in the switch with its other end in the host, in one step,
		// so that no end is ever left in the root namespace.
		if err := n.ipIn(n.sw, "link", "add", h.port, "type", "veth", "peer", "name", h.dev, "netns", h.Name); err != nil {
			t.Skipf("netns: cannot make veth links here: %v", err)
		}
		if err := n.hostUp(h, h.Name); err != nil {
			t.Fatalf("netns: %v", err)
		}
		n.hosts = append(n.hosts, h)
	}
	if c.root {
		h := &Host{Addr: n.subnet + "1", net: n, port: "root", dev: id}
		// "netns PID" is that process's namespace: this one's.
		if err := n.ipIn(n.sw, "link", "add", h.port, "type", "veth", "peer", "name", h.dev, "netns", strconv.Itoa(os.Getpid())); err != nil {
			t.Fatalf("netns: linking the root namespace: %v", err)
		}
		n.root = h
		if err := n.hostUp(h, ""); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
	return n
}

// hostUp plugs h's switch end into the bridge and sets h's end up with its address; ns is h's
// namespace ("" for the root one).
func (n *Net) hostUp(h *Host, ns string) error {
	if err := n.ipIn(n.sw, "link", "set", h.port, "master", "br0", "up"); err != nil {
		return err
	}
	if ns != "" {
		if err := n.ipIn(ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	if err := n.ipIn(ns, "addr", "add", h.Addr+"/24", "dev", h.dev); err != nil {
		return err
	}
	if err := n.ipIn(ns, "link", "set", h.dev, "up"); err != nil {
		return err
	}
	return h.waitCarrier(true)
}

// pickSubnet returns the first "10.77.S." from a pid-derived start that no address or route of
// the root namespace uses, so that WithRoot's route cannot clash with the machine's or with a
// concurrent test's.
func (n *Net) pickSubnet() (string, error) {
	out, err := n.output("", "-o", "addr", "show")
	if err != nil {
		return "", err
	}
	routes, err := n.output("", "route", "show")
	if err != nil {
		return "", err
	}
	used := string(out) + string(routes)
	start := os.Getpid()%250 + int(seq.Load())
	for k := range 250 {
		s := fmt.Sprintf("10.77.%d.", (start+k)%250+1)
		if !strings.Contains(used, s) {
			return s, nil
		}
	}
	return "", errors.New("every subnet 10.77.1-250.0/24 is in use in the root namespace")
}

// Hosts returns the hosts, in the order of their addresses (10.77.S.2, .3, …).
func (n *Net) Hosts() []*Host { return n.hosts }

// Root returns the root namespace as a host, when New was given WithRoot; nil otherwise.
func (n *Net) Root() *Host { return n.root }

// Close kills every process still running in the hosts, removes the namespaces and the root
// namespace's link, and waits until the links are gone. It is called by the test's Cleanup; a
// second call does nothing.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	if n.root != nil {
		// Deleting the root's end deletes its peer too, at once; leaving it to the switch's
		// removal would leave it to the kernel's namespace clean-up, which runs later.
		if err := n.ipIn("", "link", "del", n.root.dev); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(n.made) - 1; i >= 0; i-- {
		if err := n.delNS(n.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	n.made = nil
	return errors.Join(errs...)
}

// addNS makes a namespace and records it for Close.
func (n *Net) addNS(name string) error {
	if err := n.ipIn("", "netns", "add", name); err != nil {
		return err
	}
	n.mu.Lock()
	n.made = append(n.made, name)
	n.mu.Unlock()
	return nil
}

// delNS kills the processes in namespace name, then deletes it.
func (n *Net) delNS(name string) error {
	killIn(n.ip, name)
	return n.ipIn("", "netns", "del", name)
}

// killIn SIGKILLs every process in namespace name. A process keeps its namespace alive after
// `ip netns del`; killing them leaves nothing running there.
func killIn(ip, name string) {
	out, err := exec.Command(ip, "netns", "pids", name).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Command returns a command that runs name with args in h's namespace, through `ip netns exec`,
// which replaces itself with the program: cmd.Process is the program itself, so that Kill and
// Signal (SIGSTOP, say) reach it. For the root host it is a plain exec.CommandContext. Set its
// Env, Stdout and so on as usual before Start.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if h.Name == "" {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, h.net.ip, append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Cut takes h's link down at the switch, as if its cable were pulled: packets to and from h are
// dropped (its connections stall, new dials time out) until Restore. It returns once h's end of
// the link has lost its carrier.
func (h *Host) Cut() error {
	if err := h.net.ipIn(h.net.sw, "link", "set", h.port, "down"); err != nil {
		return err
	}
	return h.waitCarrier(false)
}

// Restore brings h's link up again after Cut, and returns once h's end has its carrier back. It
// also forgets the addresses the hosts failed to resolve while the link was down (their
// neighbour entries), which the kernel would otherwise go on reporting as "no route to host" for
// a while: a dial right after Restore reaches h.
func (h *Host) Restore() error {
	if err := h.net.ipIn(h.net.sw, "link", "set", h.port, "up"); err != nil {
		return err
	}
	if err := h.waitCarrier(true); err != nil {
		return err
	}
	hosts := h.net.hosts
	if h.net.root != nil {
		hosts = append(hosts[:len(hosts):len(hosts)], h.net.root)
	}
	for _, o := range hosts {
		if err := h.net.ipIn(o.Name, "neigh", "flush", "dev", o.dev); err != nil {
			return err
		}
	}
	return nil
}

// waitCarrier waits until h's end of its link has (up) or has lost the carrier.
func (h *Host) waitCarrier(up bool) error {
	deadline := time.Now().Add(linkWait)
	for {
		out, err := h.net.output(h.Name, "-o", "link", "show", "dev", h.dev)
		if err != nil {
			return err
		}
		// The flags read <BROADCAST,MULTICAST,UP,LOWER_UP>; LOWER_UP is the carrier.
		if strings.Contains(string(out), "LOWER_UP") == up {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns: the link of %s (%s) did not go %s within %v: %s", h.Addr, h.dev,
				map[bool]string{true: "up", false: "down"}[up], linkWait, bytes.TrimSpace(out))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ipIn runs ip with args in namespace ns ("" for the root one).
func (n *Net) ipIn(ns string, args ...string) error {
	_, err := n.output(ns, args...)
	return err
}

// output runs ip with args in namespace ns ("" for the root one) and returns its output.
func (n *Net) output(ns string, args ...string) ([]byte, error) {
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.Command(n.ip, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// RemoveStale removes the namespaces (and root-namespace links) named with Prefix whose test
// process has died, killing what still runs in them. It leaves those of live processes alone,
// so tests running at the same time do not disturb each other. ip is the ip command's path.
// New calls it; it is exported for a clean-up step in CI.
func RemoveStale(ip string) error {
	var errs []error
	out, err := exec.Command(ip, "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !stale(f[0]) {
			continue
		}
		killIn(ip, f[0])
		if b, err := exec.Command(ip, "netns", "del", f[0]).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", f[0], err, bytes.TrimSpace(b)))
		}
	}
	out, err = exec.Command(ip, "-o", "link", "show").Output()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("ip link show: %v", err))...)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "7: mpnt1x2@if6: <...>": the index, then the name and its peer.
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if !stale(name) {
			continue
		}
		if b, err := exec.Command(ip, "link", "del", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", name, err, bytes.TrimSpace(b)))
		}
	}
	return errors.Join(errs...)
}

// stale reports whether name was made by this package for a process that no longer exists.
func stale(name string) bool {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return false
	}
	p, _, ok := strings.Cut(rest, "x")
	if !ok {
		return false
	}
	pid, err := strconv.ParseInt(p, 32, 32)
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(int(pid), 0) == syscall.ESRCH
}
