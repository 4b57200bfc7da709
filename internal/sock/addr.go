// Package sock is mp's own small socket layer: stream sockets on Unix paths and on TCP, made with
// system calls rather than package net (which the root package must not import: it makes every
// program that uses mp dynamically linked, and slows down every child's start). Sockets are
// nonblocking and wrapped in an *os.File, so the runtime's poller waits on them and deadlines bound
// those waits; the caller owns each file it is given.
//
// Addresses are parsed with net/netip and never resolved: a host must be an IP address, or
// "localhost", or empty, and the last two mean the loopback address (not every address, as in
// package net: a program listens on the network only when it says so).
package sock

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrNotIP reports a host that is a name rather than an IP address: this package resolves no
// names.
var ErrNotIP = errors.New("not an IP address")

// Addr is a parsed address: a Unix socket's path, or a TCP address.
type Addr struct {
	Network string         // "unix", "tcp", "tcp4" or "tcp6", as given
	Path    string         // of a Unix socket
	IP      netip.AddrPort // of a TCP socket
}

// String formats a as package net would: the path, or "ip:port" ("[ip]:port" for IPv6).
func (a Addr) String() string {
	if a.Network == "unix" {
		return a.Path
	}
	return a.IP.String()
}

// Loopback reports whether a can be reached only from this machine: a Unix socket, or a
// loopback IP address.
func (a Addr) Loopback() bool { return a.Network == "unix" || a.IP.Addr().IsLoopback() }

// maxUnixPath is the longest path a Unix socket address holds (sun_path less its final NUL) on
// Linux; macOS allows 103.
const maxUnixPath = 107

// ParseAddr parses addr for network: "unix" takes a path; "tcp", "tcp4" and "tcp6" take
// "host:port", where host is an IP address ("[ip]:port" for IPv6), "localhost" or empty (both
// meaning the loopback address of the network: 127.0.0.1, or ::1 for "tcp6"), and port a number
// from 0 to 65535. An IPv6 address with a zone must give the zone as an interface number. A host
// name is an error matching ErrNotIP.
func ParseAddr(network, addr string) (Addr, error) {
	switch network {
	case "unix":
		switch {
		case addr == "":
			return Addr{}, errors.New("an empty Unix socket path")
		case len(addr) > maxUnixPath:
			return Addr{}, fmt.Errorf("the Unix socket path %q is %d bytes long, and at most %d fit in a socket address: use a shorter path", addr, len(addr), maxUnixPath)
		case strings.IndexByte(addr, 0) >= 0:
			return Addr{}, fmt.Errorf("the Unix socket path %q holds a NUL byte", addr)
		}
		return Addr{Network: network, Path: addr}, nil
	case "tcp", "tcp4", "tcp6":
	default:
		return Addr{}, fmt.Errorf("unknown network %q: use \"unix\", \"tcp\", \"tcp4\" or \"tcp6\"", network)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return Addr{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Addr{}, fmt.Errorf("address %q: the port %q is not a number from 0 to 65535", addr, port)
	}
	var ip netip.Addr
	switch host {
	case "", "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if network == "tcp6" {
			ip = netip.IPv6Loopback()
		}
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return Addr{}, fmt.Errorf("address %q: %q is %w", addr, host, ErrNotIP)
		}
	}
	if ip.Is4In6() && network != "tcp6" {
		ip = ip.Unmap()
	}
	switch {
	case network == "tcp4" && !ip.Is4():
		return Addr{}, fmt.Errorf("address %q: %s is not an IPv4 address, and the network is tcp4", addr, ip)
	case network == "tcp6" && ip.Is4():
		return Addr{}, fmt.Errorf("address %q: %s is not an IPv6 address, and the network is tcp6", addr, ip)
	}
	if z := ip.Zone(); z != "" {
		if _, err := strconv.ParseUint(z, 10, 32); err != nil {
			return Addr{}, fmt.Errorf("address %q: the zone %q is an interface name, and this package does not look names up: give the interface's number", addr, z)
		}
	}
	return Addr{Network: network, IP: netip.AddrPortFrom(ip, uint16(p))}, nil
}

// splitHostPort splits "host:port" or "[host]:port".
func splitHostPort(addr string) (host, port string, err error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", fmt.Errorf("address %q has no port: write host:port", addr)
	}
	host, port = addr[:i], addr[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return "", "", fmt.Errorf("address %q: a '[' without its ']'", addr)
		}
		host = host[1 : len(host)-1]
	} else if strings.IndexByte(host, ':') >= 0 {
		return "", "", fmt.Errorf("address %q: an IPv6 address goes in brackets, as in [::1]:8080", addr)
	}
	return host, port, nil
}
