package fdpass

import "golang.org/x/sys/unix"

// recvFlags makes received descriptors close-on-exec atomically.
const recvFlags = unix.MSG_CMSG_CLOEXEC

// sendFlags keeps a write to a closed socket from raising SIGPIPE.
const sendFlags = unix.MSG_NOSIGNAL
