//go:build linux || darwin

package mp_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mp-go/mp"
)

// Counter is a type of the program's own that lives in a manager: its state is plain fields,
// with no lock, since the manager runs one call at a time on an object.
type Counter struct {
	n    int
	hist *mp.List[int] // a managed list the counter holds and hands out
}

// Incr adds d and returns the new count; it is exposed below, so other processes can call it.
func (c *Counter) Incr(ctx context.Context, d int) (int, error) {
	if d < 0 {
		return c.n, fmt.Errorf("Incr(%d): %w", d, ErrNegative)
	}
	c.n += d
	_, err := c.hist.Append(ctx, c.n)
	return c.n, err
}

// History returns the managed list of the counts so far: the caller gets a live proxy of it.
func (c *Counter) History(ctx context.Context, _ struct{}) (*mp.List[int], error) {
	return c.hist, nil
}

// Reset is a method of Counter that is not exposed: no other process can call it.
func (c *Counter) Reset(ctx context.Context, _ struct{}) (int, error) { c.n = 0; return 0, nil }

// Close runs in the manager when the counter is freed: it lets go of the list it holds.
func (c *Counter) Close() error { return c.hist.Close() }

// Registered at package level, so that the manager process (a re-exec of this program) knows
// the type, its constructor and its methods too.
var (
	ErrNegative = mp.RegisterError("example.negative", errors.New("negative increment"))

	CounterType = mp.RegisterManagedType("example.counter", func(ctx context.Context, m *mp.Manager, start int) (*Counter, error) {
		hist, err := mp.NewList[int](ctx, m) // made in the manager, through its own connection
		if err != nil {
			return nil, err
		}
		return &Counter{n: start, hist: hist}, nil
	})
	CounterIncr    = mp.Expose(CounterType, "Incr", (*Counter).Incr)
	CounterHistory = mp.Expose(CounterType, "History", (*Counter).History)

	// IncrIn increments the counter it is given, in a child.
	IncrIn = mp.Register("example.incr_in", func(ctx context.Context, c *mp.ManagedObject[Counter]) (int, error) {
		return CounterIncr.Call(ctx, c, 10)
	})
)

// A Go type of the program's own, held by a manager and used from other processes through a
// proxy: Python's BaseManager.register('Counter', Counter, exposed=('incr', 'history'),
// method_to_typeid={'history': 'list'}).
func ExampleNewManagedObject() {
	ctx := context.Background()
	m, err := mp.StartManager(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	c, err := mp.NewManagedObject(ctx, m, CounterType, 100)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	n, err := CounterIncr.Call(ctx, c, 5)
	fmt.Println(n, err)

	// The proxy is a handle: a child calls the same object.
	n, err = mp.Run(ctx, IncrIn, c)
	fmt.Println(n, err)

	// A method's error keeps its identity; a method not exposed cannot be called.
	_, err = CounterIncr.Call(ctx, c, -1)
	fmt.Println(errors.Is(err, ErrNegative))
	err = c.Call(ctx, "Reset", struct{}{}, nil)
	fmt.Println(errors.Is(err, mp.ErrNotExposed))

	// A method that returns a managed object returns a live proxy of it.
	hist, err := CounterHistory.Call(ctx, c, struct{}{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hist.Close()
	counts, err := hist.Slice(ctx)
	fmt.Println(counts, err)
	// Output:
	// 105 <nil>
	// 115 <nil>
	// true
	// true
	// [105 115] <nil>
}
