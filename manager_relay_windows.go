//go:build windows

package mp

import "io"

// relayCopy copies src to dst until src ends or either fails.
func relayCopy(dst io.Writer, src io.Reader) {
	io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, make([]byte, relayBuffer))
}
