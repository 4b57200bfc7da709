//go:build windows

package mp

// tryFill cannot tell without waiting on Windows.
func tryFill(n *netConn) (ready, ok bool) { return false, false }
