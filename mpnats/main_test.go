package mpnats

import (
	"testing"

	"github.com/mp-go/mp/mptest"
)

// TestMain makes the test binary its own mp worker (the tests start children that connect to a
// server the test runs) and checks for leaked goroutines and children.
func TestMain(m *testing.M) { mptest.Main(m) }
