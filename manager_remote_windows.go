//go:build windows

package mp

import (
	"context"
	"fmt"
)

// ConnectManager returns an ErrNotSupported error on Windows: managers need Unix sockets.
func ConnectManager(ctx context.Context, network, addr string, opts ...ConnOption) (*Manager, error) {
	return nil, fmt.Errorf("%w: mp.ConnectManager (managers need Unix sockets)", ErrNotSupported)
}
