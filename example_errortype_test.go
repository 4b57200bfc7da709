//go:build unix

package mp_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mp-go/mp"
)

// OutOfStock is an error type with fields, as a Python program would raise its own exception
// class. Its fields are exported, so that they can travel.
type OutOfStock struct {
	Item string
	Left int
}

func (e *OutOfStock) Error() string { return fmt.Sprintf("%s: only %d left", e.Item, e.Left) }

// Registered at package level, as functions are, so that the child knows the type too.
func init() { mp.RegisterErrorType[*OutOfStock]("example.out_of_stock") }

var Order = mp.Register("example.order", func(ctx context.Context, item string) (int, error) {
	return 0, fmt.Errorf("order of %s: %w", item, &OutOfStock{Item: item, Left: 2})
})

// An error of a registered type, returned in a child, arrives with its fields: errors.As finds
// it, as Python's `except OutOfStock as e:` would.
func ExampleRegisterErrorType() {
	_, err := mp.Run(context.Background(), Order, "tea")
	var oos *OutOfStock
	if errors.As(err, &oos) {
		fmt.Println(oos.Item, oos.Left)
	}
	var pe *mp.ProcessError
	fmt.Println(errors.As(err, &pe), pe.Message)
	// Output:
	// tea 2
	// true order of tea: tea: only 2 left
}
