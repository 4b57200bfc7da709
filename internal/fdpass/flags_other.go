//go:build unix && !linux

package fdpass

// recvFlags: no MSG_CMSG_CLOEXEC here; Reader sets the flag right after receiving.
const recvFlags = 0

// sendFlags: the Go runtime turns SIGPIPE on such a socket into EPIPE.
const sendFlags = 0
