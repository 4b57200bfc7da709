package mp_test

import (
	"context"
	"testing"

	"github.com/mp-go/mp"
)

func TestRunSquare(t *testing.T) {
	got, err := mp.Run(context.Background(), Square, 7)
	if err != nil || got != 49 {
		t.Fatalf("Run(Square, 7) = %d, %v; want 49, nil", got, err)
	}
}
