//go:build linux || darwin

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mp-go/mp"
)

// RemoteShopClient is another program that connects to a served manager and uses a published
// custom object through it: an exposed method, one returning a live Dict, one that is not
// exposed, and a method's registered error.
var RemoteShopClient = mp.Register("test.mgr.remote_shop", func(ctx context.Context, a RemoteArg) (int, error) {
	m, err := mp.ConnectManager(ctx, a.Network, a.Addr, mp.WithAuthKey(a.Key))
	if err != nil {
		return 0, err
	}
	defer m.Close()
	s, err := mp.Lookup[*mp.ManagedObject[Shop]](ctx, m, "shop")
	if err != nil {
		return 0, err
	}
	defer s.Close()
	left, err := ShopBuy.Call(ctx, s, ShopOrder{Item: "apple", N: 2})
	if err != nil || left != 3 {
		return 0, fmt.Errorf("remote Buy(2 apples) = %d, %v; want 3 left", left, err)
	}
	if _, err := ShopBuy.Call(ctx, s, ShopOrder{Item: "pear", N: 1}); !errors.Is(err, ErrSoldOut) {
		return 0, fmt.Errorf("remote Buy(pear) = %v; want ErrSoldOut", err)
	}
	var n int
	if err := s.Call(ctx, "Secret", struct{}{}, &n); !errors.Is(err, mp.ErrNotExposed) {
		return 0, fmt.Errorf("remote Call(Secret) = %v; want ErrNotExposed", err)
	}
	sales, err := ShopSales.Call(ctx, s, struct{}{})
	if err != nil {
		return 0, err
	}
	defer sales.Close()
	if _, err := mp.Add(ctx, sales, "by remote", 1); err != nil {
		return 0, fmt.Errorf("Add through the Dict a remote method returned: %v", err)
	}
	sold, _, err := sales.Get(ctx, "apple")
	return sold, err
})

// TestManagedObjectRemote: a custom object published by a manager served over TCP works in
// another program connected with ConnectManager as it does locally: its calls change the one
// object, errors keep their identity, a method's Dict arrives live, and only exposed methods run.
func TestManagedObjectRemote(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	s := newShop(t, m, map[string]int{"apple": 5})
	if err := m.Publish(ctx, "shop", s); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m, "tcp", mp.WithAuthKey(remoteKey))
	sold, err := mp.Run(ctx, RemoteShopClient, RemoteArg{Network: "tcp", Addr: addr, Key: remoteKey})
	if err != nil {
		t.Fatal(err)
	}
	if sold != 2 {
		t.Errorf("the remote program read %d apples sold; want 2", sold)
	}
	if left, err := ShopStock.Call(ctx, s, "apple"); err != nil || left != 3 {
		t.Errorf("Stock(apple) here = %d, %v after the remote Buy; want 3", left, err)
	}
	sales, err := ShopSales.Call(ctx, s, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	defer sales.Close()
	if v, ok, err := sales.Get(ctx, "by remote"); err != nil || !ok || v != 1 {
		t.Errorf("sales[by remote] = %d, %v, %v; want the remote program's Add", v, ok, err)
	}
}
