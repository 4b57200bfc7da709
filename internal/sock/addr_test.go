package sock

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		network, addr string
		want          string // the address parsed, or the error's words
		ok, loopback  bool
	}{
		{"tcp", "127.0.0.1:80", "127.0.0.1:80", true, true},
		{"tcp", ":0", "127.0.0.1:0", true, true},
		{"tcp", "localhost:8080", "127.0.0.1:8080", true, true},
		{"tcp6", "localhost:1", "[::1]:1", true, true},
		{"tcp6", ":1", "[::1]:1", true, true},
		{"tcp", "[::1]:9", "[::1]:9", true, true},
		{"tcp", "[::ffff:10.0.0.1]:9", "10.0.0.1:9", true, false},
		{"tcp", "0.0.0.0:9", "0.0.0.0:9", true, false},
		{"tcp4", "10.1.2.3:65535", "10.1.2.3:65535", true, false},
		{"tcp", "[fe80::1%2]:9", "[fe80::1%2]:9", true, false},
		{"unix", "/tmp/x.sock", "/tmp/x.sock", true, true},
		{"tcp", "example.com:80", "not an IP address", false, false},
		{"tcp", "[fe80::1%eth0]:9", "interface name", false, false},
		{"tcp", "127.0.0.1", "no port", false, false},
		{"tcp", "127.0.0.1:x", "port", false, false},
		{"tcp", "::1:80", "brackets", false, false},
		{"tcp", "[::1:80", "']'", false, false},
		{"tcp4", "[::1]:80", "tcp4", false, false},
		{"tcp6", "1.2.3.4:80", "tcp6", false, false},
		{"udp", "1.2.3.4:80", "unknown network", false, false},
		{"unix", "", "empty", false, false},
		{"unix", "a\x00b", "NUL", false, false},
		{"unix", strings.Repeat("a", 108), "shorter path", false, false},
	} {
		a, err := ParseAddr(tc.network, tc.addr)
		if tc.ok {
			if err != nil || a.String() != tc.want || a.Loopback() != tc.loopback {
				t.Errorf("ParseAddr(%q, %q) = %v (loopback %v), %v; want %s (loopback %v)", tc.network, tc.addr, a, a.Loopback(), err, tc.want, tc.loopback)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAddr(%q, %q): %v, want an error saying %q", tc.network, tc.addr, err, tc.want)
		}
	}
	if _, err := ParseAddr("tcp", "host:1"); !errors.Is(err, ErrNotIP) {
		t.Errorf("a host name: %v, want ErrNotIP", err)
	}
}
