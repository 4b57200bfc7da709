// Package bootstrap is the machinery under mp.Init and Process.Start: how a child is marked in its
// environment, how it is spawned so that it dies with its parent, and how a child sheds the
// descriptors it should not have inherited.
package bootstrap

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// EnvKey is the environment variable that marks a process as an mp child. Its value is
// "<protocol version>:<descriptor numbers>", the descriptors comma-separated: the control socket
// first, then any others the child is handed (a pool worker's call and reply pipes and its call
// slots). The child removes it from its environment as soon as it has read it, so that processes
// it starts in turn are marked afresh.
const EnvKey = "MP_CHILD_V1"

// ChildFD is the descriptor number the control socket gets in every child; further descriptors
// follow it.
const ChildFD = 3

// EnvValue is the value of EnvKey for a child handed n descriptors from ChildFD on.
func EnvValue(version, n int) string {
	v := strconv.Itoa(version) + ":" + strconv.Itoa(ChildFD)
	for i := 1; i < n; i++ {
		v += "," + strconv.Itoa(ChildFD+i)
	}
	return v
}

// Marked reports whether this process was started as an mp child and has not yet read its
// marker. It does not consume the marker.
func Marked() bool {
	_, ok := os.LookupEnv(EnvKey)
	return ok
}

// TakeMarker reads and removes the child marker. ok is false when the process is not a child.
func TakeMarker() (version int, fds []int, ok bool, err error) {
	v, ok := os.LookupEnv(EnvKey)
	if !ok {
		return 0, nil, false, nil
	}
	os.Unsetenv(EnvKey)
	a, b, found := strings.Cut(v, ":")
	if !found {
		return 0, nil, true, fmt.Errorf("malformed %s=%q", EnvKey, v)
	}
	version, err = strconv.Atoi(a)
	if err != nil {
		return 0, nil, true, fmt.Errorf("malformed %s=%q: %v", EnvKey, v, err)
	}
	for _, f := range strings.Split(b, ",") {
		fd, err := strconv.Atoi(f)
		if err != nil || fd < 0 {
			return 0, nil, true, fmt.Errorf("malformed %s=%q", EnvKey, v)
		}
		fds = append(fds, fd)
	}
	return version, fds, true, nil
}

// Environ returns the environment for a child handed nfds descriptors: this process's environment
// without any marker of its own, plus extra, plus the child marker.
func Environ(version, nfds int, extra []string) []string {
	env := os.Environ()
	out := make([]string, 0, len(env)+len(extra)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, EnvKey+"=") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, extra...)
	return append(out, EnvKey+"="+EnvValue(version, nfds))
}
