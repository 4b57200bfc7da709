//go:build unix

package dashboard_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/bench"
	"github.com/mp-go/mp/dashboard"
)

// TestPoolMapTinyOverhead measures bench's pool_map_tiny (mp.Map of bench.Square over 1,000,000
// ints on a warm 2-worker pool, default chunking) on two pools side by side, samples alternating (ABBA):
// one with no dashboard, one whose dashboard is mounted and watched (two pages open on its
// workers and pools views, refreshed every 300ms). It only runs when asked, being a measurement:
//
//	MP_DASHBOARD_BENCH=1 go test -run TestPoolMapTinyOverhead -v ./dashboard
//
// MP_DASHBOARD_BENCH=N>1 sets the samples per side (default 10).
func TestPoolMapTinyOverhead(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MP_DASHBOARD_BENCH"))
	if n == 0 {
		t.Skip("a measurement: set MP_DASHBOARD_BENCH=1 to run it")
	}
	if n == 1 {
		n = 10
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	plain, err := bench.StartPool(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	watched, err := bench.StartPool(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer watched.Close()
	d := dashboard.New()
	d.AddPool(watched)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	defer d.Close()
	for _, view := range []string{"", "pools"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events?view="+view, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if _, err := br.ReadString('\n'); err != nil { // the page is being watched
			t.Fatal(err)
		}
		go func() {
			for {
				if _, err := br.ReadString('\n'); err != nil {
					return
				}
			}
		}()
	}
	xs := bench.Ints(1_000_000)
	var a, b []float64
	for _, p := range []*mp.Pool{plain, watched} {
		if _, err := bench.MapSquares(ctx, p, xs[:100_000]); err != nil {
			t.Fatal(err)
		}
	}
	for round := range n {
		order := []*mp.Pool{plain, watched}
		if round%2 == 1 { // ABBA: neither side always goes first
			order[0], order[1] = watched, plain
		}
		for _, p := range order {
			took, err := bench.MapSquares(ctx, p, xs)
			if err != nil {
				t.Fatal(err)
			}
			r := float64(len(xs)) / took.Seconds()
			if p == plain {
				a = append(a, r)
			} else {
				b = append(b, r)
			}
		}
	}
	slices.Sort(a)
	slices.Sort(b)
	ma, mb := a[len(a)/2], b[len(b)/2]
	t.Logf("pool_map_tiny, %d samples each, median tasks/s: no dashboard %.0f, dashboard mounted and watched %.0f: %.1f%% of it", n, ma, mb, 100*mb/ma)
	t.Logf("no dashboard: %.0f", a)
	t.Logf("watched:      %.0f", b)
}
