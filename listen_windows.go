//go:build windows

package mp

import (
	"context"
	"fmt"
)

// Listen returns an ErrNotSupported error on Windows: mp's own sockets are Unix ones. Package
// mpnet's Listen works there.
func Listen(ctx context.Context, network, addr string, opts ...ConnOption) (*Listener, error) {
	return nil, fmt.Errorf("%w: mp.Listen (use mpnet.Listen)", ErrNotSupported)
}

// Dial returns an ErrNotSupported error on Windows: mp's own sockets are Unix ones. Package
// mpnet's Dial works there.
func Dial[T any](ctx context.Context, network, addr string, opts ...ConnOption) (*Conn[T], error) {
	return nil, fmt.Errorf("%w: mp.Dial (use mpnet.Dial)", ErrNotSupported)
}

func peerOf(s Stream) string { return "" }
