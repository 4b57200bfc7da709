//go:build linux

package mp

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestViolationNamesLikelyCause: a broken pipe stream is most often two processes reading one
// end at once; the ErrProtocol error says so.
func TestViolationNamesLikelyCause(t *testing.T) {
	c, peer := hostilePair[[]byte](t)
	sendRaw(t, peer, 99, 3, 0, []byte("abc"))
	_, err := c.RecvBytes(context.Background())
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "two processes reading one end of the pipe at once") {
		t.Fatalf("Recv of a broken stream = %v; want ErrProtocol naming the likely cause", err)
	}
}
