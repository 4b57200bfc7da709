package dashboard_test

import (
	"testing"

	"github.com/mp-go/mp/mptest"
)

func TestMain(m *testing.M) { mptest.Main(m) }
