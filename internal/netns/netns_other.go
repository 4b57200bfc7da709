//go:build !linux

package netns

import (
	"context"
	"errors"
	"os/exec"
	"testing"
)

// Net is a set of hosts made of network namespaces. On this system there are none: New skips.
type Net struct{}

// Host is one network namespace of a Net. On this system there are none.
type Host struct {
	// Name is the namespace's name.
	Name string
	// Addr is the host's IPv4 address on its link.
	Addr string
}

// Option configures New.
type Option interface{ apply(*config) }

type config struct{ root bool }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithRoot also links the root namespace to the switch. Network namespaces are Linux only.
func WithRoot() Option { return optionFunc(func(c *config) { c.root = true }) }

var errNotLinux = errors.New("netns: network namespaces are Linux only")

// New skips the test: network namespaces are Linux only.
func New(t testing.TB, hosts int, opts ...Option) *Net {
	t.Helper()
	t.Skip("netns: network namespaces are Linux only")
	return nil
}

// Hosts returns no hosts.
func (n *Net) Hosts() []*Host { return nil }

// Root returns nil.
func (n *Net) Root() *Host { return nil }

// Close does nothing.
func (n *Net) Close() error { return nil }

// Command returns a command that fails to start.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Err = errNotLinux
	return cmd
}

// Cut fails: network namespaces are Linux only.
func (h *Host) Cut() error { return errNotLinux }

// Restore fails: network namespaces are Linux only.
func (h *Host) Restore() error { return errNotLinux }
