//go:build linux || darwin

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mp-go/mp"
)

// Shop is a custom managed type: a stock of items, and a managed dict of the sales, which the
// shop holds and hands out (Sales).
type Shop struct {
	stock map[string]int // no lock: the manager runs one call at a time on an object
	sales *mp.Dict[string, int]
}

// ShopOrder is the argument of Shop.Buy.
type ShopOrder struct {
	Item string
	N    int
}

func (s *Shop) Buy(ctx context.Context, o ShopOrder) (int, error) {
	switch {
	case o.Item == "boom":
		panic("the shop blew up")
	case o.N > 10:
		return 0, &QuotaError{User: o.Item, Limit: 10}
	case s.stock[o.Item] < o.N:
		return s.stock[o.Item], fmt.Errorf("buying %d %s: %w", o.N, o.Item, ErrSoldOut)
	}
	left := s.stock[o.Item] - o.N // read, then write: lost updates, were two calls to interleave
	s.stock[o.Item] = left
	if _, err := mp.Add(ctx, s.sales, o.Item, o.N); err != nil {
		return 0, err
	}
	return left, nil
}

func (s *Shop) Stock(ctx context.Context, item string) (int, error) { return s.stock[item], nil }

func (s *Shop) Sales(ctx context.Context, _ struct{}) (*mp.Dict[string, int], error) {
	return s.sales, nil
}

// Secret is a method of Shop that is not exposed.
func (s *Shop) Secret(ctx context.Context, _ struct{}) (int, error) { return 42, nil }

func (s *Shop) Close() error { return s.sales.Close() }

var (
	ShopType = mp.RegisterManagedType("test.shop", func(ctx context.Context, m *mp.Manager, stock map[string]int) (*Shop, error) {
		if len(stock) == 0 {
			return nil, fmt.Errorf("a shop with nothing to sell: %w", ErrSoldOut)
		}
		sales, err := mp.NewDict[string, int](ctx, m)
		if err != nil {
			return nil, err
		}
		return &Shop{stock: stock, sales: sales}, nil
	})
	ShopBuy   = mp.Expose(ShopType, "Buy", (*Shop).Buy)
	ShopStock = mp.Expose(ShopType, "Stock", (*Shop).Stock)
	ShopSales = mp.Expose(ShopType, "Sales", (*Shop).Sales)

	// ShopBuyOne buys one apple in the shop it is given (in a pool worker) and returns what is
	// left.
	ShopBuyOne = mp.Register("test.shop.buy_one", func(ctx context.Context, s *mp.ManagedObject[Shop]) (int, error) {
		return ShopBuy.Call(ctx, s, ShopOrder{Item: "apple", N: 1})
	})
	// ShopSalesOf reads the sales of an item through the dict the shop hands out, in a child.
	ShopSalesOf = mp.Register("test.shop.sales_of", func(ctx context.Context, s *mp.ManagedObject[Shop]) (int, error) {
		d, err := ShopSales.Call(ctx, s, struct{}{})
		if err != nil {
			return 0, err
		}
		defer d.Close()
		n, _, err := d.Get(ctx, "apple")
		return n, err
	})
)

func newShop(t *testing.T, m *mp.Manager, stock map[string]int) *mp.ManagedObject[Shop] {
	t.Helper()
	s, err := mp.NewManagedObject(ctxT(t), m, ShopType, stock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestManagedObjectCalls: exposed methods run in the manager on one object, from this process
// and from pool workers holding the proxy, one at a time (no update is lost without a lock), and
// every process sees the same state.
func TestManagedObjectCalls(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	s := newShop(t, m, map[string]int{"apple": 100, "pear": 3})
	if left, err := ShopBuy.Call(ctx, s, ShopOrder{Item: "pear", N: 2}); err != nil || left != 1 {
		t.Fatalf("Buy 2 pears of 3: %d left, %v; want 1", left, err)
	}
	if !strings.HasPrefix(s.String(), "mp.ManagedObject[test.shop](") {
		t.Fatalf("String: %q", s.String())
	}

	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	shops := make([]*mp.ManagedObject[Shop], 60)
	for i := range shops {
		shops[i] = s
	}
	lefts, err := mp.Map(ctx, p, ShopBuyOne, shops)
	if err != nil {
		t.Fatalf("buying through the proxy in pool workers: %v", err)
	}
	seen := map[int]bool{}
	for _, l := range lefts {
		if seen[l] {
			t.Fatalf("two buyers were told %d apples were left: the calls interleaved (%v)", l, lefts)
		}
		seen[l] = true
	}
	if n, err := ShopStock.Call(ctx, s, "apple"); err != nil || n != 40 {
		t.Fatalf("after 60 apples bought in workers: %d left, %v; want 40", n, err)
	}
	// The untyped call, by name, of an exposed method.
	var pears int
	if err := s.Call(ctx, "Stock", "pear", &pears); err != nil || pears != 1 {
		t.Fatalf(`Call("Stock", "pear"): %d, %v; want 1`, pears, err)
	}
}

// TestManagedObjectNotExposed: a method that exists on the type but was not exposed cannot be
// called, and the error says what can.
func TestManagedObjectNotExposed(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	s := newShop(t, m, map[string]int{"apple": 1})
	var n int
	for _, name := range []string{"Secret", "Close", "buy", ""} {
		err := s.Call(ctx, name, struct{}{}, &n)
		if !errors.Is(err, mp.ErrNotExposed) || !strings.Contains(err.Error(), "(it exposes: Buy, Sales, Stock)") {
			t.Fatalf("Call(%q): %v; want ErrNotExposed naming Buy, Sales, Stock", name, err)
		}
	}
	if n != 0 {
		t.Fatalf("a call refused still gave a result: %d", n)
	}
	// A wrong argument type for an exposed method is a decode error, not a call.
	if err := s.Call(ctx, "Stock", 12, &n); !errors.Is(err, mp.ErrDecode) {
		t.Fatalf(`Call("Stock", 12): %v; want ErrDecode`, err)
	}
}

// TestManagedObjectErrors: a method's errors keep their identity (a registered sentinel with
// errors.Is, a registered type with errors.As and its fields), a panic is the call's error and
// the manager serves on, and a constructor's error reaches NewManagedObject's caller.
func TestManagedObjectErrors(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	s := newShop(t, m, map[string]int{"apple": 1})
	if _, err := ShopBuy.Call(ctx, s, ShopOrder{Item: "apple", N: 2}); !errors.Is(err, ErrSoldOut) || !strings.Contains(err.Error(), "buying 2 apple") {
		t.Fatalf("Buy more than the stock: %v; want ErrSoldOut", err)
	}
	_, err := ShopBuy.Call(ctx, s, ShopOrder{Item: "apple", N: 11})
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.User != "apple" || qe.Limit != 10 {
		t.Fatalf("Buy over the quota: %v (%+v); want a *QuotaError for apple, limit 10", err, qe)
	}
	if _, err := ShopBuy.Call(ctx, s, ShopOrder{Item: "boom", N: 1}); err == nil || !strings.Contains(err.Error(), "the shop blew up") {
		t.Fatalf("a method that panics: %v; want its panic as the error", err)
	}
	if left, err := ShopBuy.Call(ctx, s, ShopOrder{Item: "apple", N: 1}); err != nil || left != 0 {
		t.Fatalf("Buy after a panic: %d, %v; want 0 left", left, err)
	}
	if _, err := mp.NewManagedObject(ctx, m, ShopType, nil); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("a constructor's error: %v; want ErrSoldOut", err)
	}
	s.Close()
	if _, err := ShopStock.Call(ctx, s, "apple"); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("a call after Close: %v; want ErrClosed", err)
	}
}

// TestManagedObjectReturnsProxy: a method that returns a managed dict gives a live proxy of it,
// here and in a child; the object can be published and looked up.
func TestManagedObjectReturnsProxy(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	s := newShop(t, m, map[string]int{"apple": 10})
	sales, err := ShopSales.Call(ctx, s, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	defer sales.Close()
	if _, err := ShopBuy.Call(ctx, s, ShopOrder{Item: "apple", N: 3}); err != nil {
		t.Fatal(err)
	}
	if n, _, err := sales.Get(ctx, "apple"); err != nil || n != 3 {
		t.Fatalf("the sales dict after the shop sold 3: %d, %v; want 3", n, err)
	}
	if err := sales.Set(ctx, "apple", 7); err != nil { // the shop sees it: the same dict
		t.Fatal(err)
	}
	if n, err := mp.Run(ctx, ShopSalesOf, s); err != nil || n != 7 {
		t.Fatalf("the sales dict read in a child through the shop: %d, %v; want 7", n, err)
	}

	if err := m.Publish(ctx, "the-shop", s); err != nil {
		t.Fatal(err)
	}
	s2, err := mp.Lookup[*mp.ManagedObject[Shop]](ctx, m, "the-shop")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, err := ShopStock.Call(ctx, s2, "apple"); err != nil || n != 7 {
		t.Fatalf("Stock through the proxy looked up: %d, %v; want 7", n, err)
	}
	if _, err := mp.Lookup[*mp.Dict[string, int]](ctx, m, "the-shop"); !errors.Is(err, mp.ErrDecode) {
		t.Fatalf("Lookup of the shop as a Dict: %v; want ErrDecode", err)
	}
}

// TestManagedObjectLifetime: objects made, called and dropped, with the dicts they hold and hand
// out, are all freed: the manager's object count returns to where it started.
func TestManagedObjectLifetime(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	st, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := st.Objects
	for i := 0; i < 300; i++ {
		s, err := mp.NewManagedObject(ctx, m, ShopType, map[string]int{"apple": 1})
		if err != nil {
			t.Fatal(err)
		}
		sales, err := ShopSales.Call(ctx, s, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // the shop goes first, or the dict it handed out
			s.Close()
			sales.Close()
		} else {
			sales.Close()
			s.Close()
		}
	}
	waitFor(t, "the object count to return to its base", func() bool {
		st, err := m.Stats(ctx)
		return err == nil && st.Objects == base
	})
}

// TestManagerWaitingCap: one process cannot make the manager hold waiting calls without bound:
// past the cap, a blocking call is refused at once with a clear error, the others wait on, and
// all of them end with their ctx.
func TestManagerWaitingCap(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	mu, err := mp.NewManagedMutex(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	defer mu.Close()
	if err := mu.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	const limit, extra = 4096, 4
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, limit+extra)
	for i := 0; i < limit+extra; i++ {
		go func() { errs <- mu.Lock(wctx) }()
	}
	for i := 0; i < extra; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, mp.ErrTooLarge) || !strings.Contains(err.Error(), "4096 calls of this process are waiting") {
				t.Fatalf("a Lock past the cap: %v; want ErrTooLarge saying how many wait", err)
			}
		case <-ctx.Done():
			t.Fatal("no Lock past the cap was refused")
		}
	}
	cancel()
	for i := 0; i < limit; i++ {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("a waiting Lock whose ctx ended: %v; want context.Canceled", err)
		}
	}
	if err := mu.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mu.Lock(ctx); err != nil { // the waiters are gone: the next Lock has it at once
		t.Fatalf("Lock after the waiters left: %v", err)
	}
}

// BenchmarkManagedObjectCall is one call of an exposed method from this process: Stock, which
// reads a field (one round trip, and the method's goroutine in the manager).
func BenchmarkManagedObjectCall(b *testing.B) {
	ctx := context.Background()
	m, err := mp.StartManager(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	s, err := mp.NewManagedObject(ctx, m, ShopType, map[string]int{"apple": 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ShopStock.Call(ctx, s, "apple"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestManagedTypeMisuse: registering a type or exposing a method after Init (here: in a test,
// since TestMain ran Init) panics with advice, as Register does; so do empty names and nil
// functions; and a nil or closed object, or a nil Method, fails with an error.
func TestManagedTypeMisuse(t *testing.T) {
	newShop := func(ctx context.Context, m *mp.Manager, _ int) (*Shop, error) { return &Shop{}, nil }
	mustPanic(t, "after mp.Init", func() { mp.RegisterManagedType("test.late_type", newShop) })
	mustPanic(t, "empty name", func() { mp.RegisterManagedType("", newShop) })
	mustPanic(t, "nil constructor", func() { mp.RegisterManagedType[Shop, int]("test.nil_type", nil) })
	mustPanic(t, "after mp.Init", func() { mp.Expose(ShopType, "Secret", (*Shop).Secret) })
	mustPanic(t, "empty method name", func() { mp.Expose(ShopType, "", (*Shop).Secret) })
	mustPanic(t, "nil type or function", func() { mp.Expose[Shop, map[string]int, struct{}, int](ShopType, "X", nil) })

	ctx := ctxT(t)
	var nilObj *mp.ManagedObject[Shop]
	if _, err := ShopStock.Call(ctx, nilObj, "apple"); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("a call on a nil object: %v; want ErrClosed", err)
	}
	var nilMethod *mp.Method[Shop, string, int]
	if _, err := nilMethod.Call(ctx, nilObj, "apple"); !errors.Is(err, mp.ErrNotRegistered) {
		t.Fatalf("a nil Method's Call: %v; want ErrNotRegistered", err)
	}
	if _, err := mp.NewManagedObject[Shop, int](ctx, startManager(t), nil, 1); !errors.Is(err, mp.ErrNotRegistered) {
		t.Fatalf("NewManagedObject of a nil type: %v; want ErrNotRegistered", err)
	}
	if err := nilObj.Call(ctx, "Stock", "apple", nil); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("an untyped call on a nil object: %v; want ErrClosed", err)
	}
}

// Gate is a managed type whose Hold method waits for its ctx to end, noting in a managed dict
// when it started waiting and when its ctx ended.
type Gate struct{ notes *mp.Dict[string, int] }

func (g *Gate) Hold(ctx context.Context, _ struct{}) (int, error) {
	if err := g.notes.Set(ctx, "holding", 1); err != nil {
		return 0, err
	}
	<-ctx.Done()
	return 0, g.notes.Set(context.Background(), "ended", 1) // ctx has ended: note it without
}

func (g *Gate) Notes(ctx context.Context, _ struct{}) (*mp.Dict[string, int], error) {
	return g.notes, nil
}

func (g *Gate) Close() error { return g.notes.Close() }

var (
	GateType = mp.RegisterManagedType("test.gate", func(ctx context.Context, m *mp.Manager, _ struct{}) (*Gate, error) {
		d, err := mp.NewDict[string, int](ctx, m)
		return &Gate{notes: d}, err
	})
	GateHold  = mp.Expose(GateType, "Hold", (*Gate).Hold)
	GateNotes = mp.Expose(GateType, "Notes", (*Gate).Notes)

	// GateHoldIn calls Hold in a child, which the test kills.
	GateHoldIn = mp.Register("test.gate.hold_in", func(ctx context.Context, g *mp.ManagedObject[Gate]) (int, error) {
		return GateHold.Call(ctx, g, struct{}{})
	})
)

// TestManagedObjectCallerKilled: a method waiting on its ctx, called by a process that is then
// SIGKILLed, has its ctx ended by the manager (the caller's connection closed), so the object is
// not held by a dead caller's call.
func TestManagedObjectCallerKilled(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	g, err := mp.NewManagedObject(ctx, m, GateType, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	notes, err := GateNotes.Call(ctx, g, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	defer notes.Close()
	p := mp.NewProcess(GateHoldIn, g)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child's call to be holding", func() bool {
		n, _, err := notes.Get(ctx, "holding")
		return err == nil && n == 1
	})
	if n, _, _ := notes.Get(ctx, "ended"); n != 0 {
		t.Fatal("the method's ctx ended before its caller was killed")
	}
	p.Kill()
	<-p.Done()
	waitFor(t, "the method's ctx to end once its caller was killed", func() bool {
		n, _, err := notes.Get(ctx, "ended")
		return err == nil && n == 1
	})
}
