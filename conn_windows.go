//go:build windows

package mp

import (
	"context"
	"time"
)

type conn struct {
	canSend, canRecv bool
	connLimits
}

func newConnPair() (*conn, *conn, error) { return nil, nil, ErrNotSupported }

func adoptConn(fd int) (*conn, error) { return nil, ErrNotSupported }

func (c *conn) String() string                           { return "mp.Conn(unsupported)" }
func (c *conn) dup() (int, error)                        { return -1, ErrNotSupported }
func (c *conn) close() error                             { return nil }
func (c *conn) poll(timeout time.Duration) (bool, error) { return false, ErrNotSupported }
func (c *conn) send(ctx context.Context, kind byte, b []byte, fds []int) error {
	return ErrNotSupported
}
func (c *conn) recv(ctx context.Context) (byte, []byte, []int, error) {
	return 0, nil, nil, ErrNotSupported
}
