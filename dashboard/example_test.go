package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/dashboard"
)

// Mount the dashboard in a server of your own, under a prefix.
func ExampleDashboard_Handler() {
	ctx := context.Background()
	pool, err := mp.NewGoroutinePool(ctx, mp.WithWorkers(2), mp.WithPoolName("resize"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()

	d := dashboard.New(dashboard.WithReadOnly())
	d.AddPool(pool)
	defer d.Close()
	mux := http.NewServeMux()
	mux.Handle("/debug/mp/", http.StripPrefix("/debug/mp", d.Handler()))
	srv := httptest.NewServer(mux) // in a program: http.ListenAndServe("127.0.0.1:8080", mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/debug/mp/api/snapshot")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, strings.Contains(string(body), `"name": "resize"`))
	// Output: 200 OK true
}
