//go:build linux || darwin

package mp_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// DictOpsArg is what MgrDictOps gets: the dict and how many Sets then Gets to time.
type DictOpsArg struct {
	D *mp.Dict[string, string]
	N int
}

// DictOpsResult is the per-operation time of each, in nanoseconds: the median and the mean.
type DictOpsResult struct{ SetP50, GetP50, SetMean, GetMean float64 }

// MgrDictOps times, in a child, N Sets and then N Gets of 16-byte strings: Python's
// d[k] = "v"*16 and d[k] from another process (bench/python's manager_dict).
var MgrDictOps = mp.Register("test.mgr.dict_ops", func(ctx context.Context, a DictOpsArg) (DictOpsResult, error) {
	val := "vvvvvvvvvvvvvvvv"
	keys := make([]string, a.N)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	set, get := make([]float64, a.N), make([]float64, a.N)
	for i, k := range keys {
		t0 := time.Now()
		if err := a.D.Set(ctx, k, val); err != nil {
			return DictOpsResult{}, err
		}
		set[i] = float64(time.Since(t0).Nanoseconds())
	}
	for i, k := range keys {
		t0 := time.Now()
		if _, _, err := a.D.Get(ctx, k); err != nil {
			return DictOpsResult{}, err
		}
		get[i] = float64(time.Since(t0).Nanoseconds())
	}
	return DictOpsResult{SetP50: median(set), GetP50: median(get), SetMean: mean(set), GetMean: mean(get)}, nil
})

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

// BenchmarkManagerDict: Dict operations through the manager's socket, from this process (the
// manager is another one) and from a child client, and GetMany of 100 keys.
func BenchmarkManagerDict(b *testing.B) {
	ctx := context.Background()
	m, err := mp.StartManager(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	d, err := mp.NewDict[string, string](ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	const val = "vvvvvvvvvvvvvvvv"
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		if err := d.Set(ctx, keys[i], val); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := d.Set(ctx, keys[i%100], val); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := d.Get(ctx, keys[i%100]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetMany100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := d.GetMany(ctx, keys)
			if err != nil || len(got) != 100 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("SetMany100", func(b *testing.B) {
		kv := make(map[string]string, 100)
		for _, k := range keys {
			kv[k] = val
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := d.SetMany(ctx, kv); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ChildSetGet", func(b *testing.B) {
		// One child does 10,000 Sets and 10,000 Gets and reports their medians; ns/op is the
		// mean of both, as Python's figure is.
		var r DictOpsResult
		for b.Loop() {
			r, err = mp.Run(ctx, MgrDictOps, DictOpsArg{D: d, N: 10000})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((r.SetMean+r.GetMean)/2, "ns/op-in-child")
		b.ReportMetric(r.SetP50, "set-p50-ns")
		b.ReportMetric(r.GetP50, "get-p50-ns")
	})
}

// BenchmarkManagerDictBatch: one Get and one Set against GetMany and SetMany of 100 keys (16-byte
// string values), on each path a client can take: "shm", the dict's table in this process (the
// local fast path, Linux); "socket", the manager's Unix socket (the fast path turned off, as on
// macOS); "remote", a ConnectManager client relayed by Serve over loopback TCP with an auth key.
// On the socket paths each operation is one frame each way, so GetMany100 should cost at most
// twice Get; on the shared-memory path, compare GetMany100/100 with Get.
func BenchmarkManagerDictBatch(b *testing.B) {
	ctx := context.Background()
	m, err := mp.StartManager(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ln, err := mp.Listen(ctx, "tcp", "127.0.0.1:0", mp.WithAuthKey(remoteKey))
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- m.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	cm, err := mp.ConnectManager(ctx, "tcp", ln.Addr(), mp.WithAuthKey(remoteKey))
	if err != nil {
		b.Fatal(err)
	}
	defer cm.Close()
	const val = "vvvvvvvvvvvvvvvv"
	keys := make([]string, 100)
	kv := make(map[string]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		kv[keys[i]] = val
	}
	for _, path := range []string{"shm", "socket", "remote"} {
		mgr := m
		if path == "remote" {
			mgr = cm
		}
		d, err := mp.NewDict[string, string](ctx, mgr)
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		run := func(name string, fn func() error) {
			b.Run(path+"/"+name, func(b *testing.B) {
				if path == "socket" {
					defer mp.ManagerLocalOff(mp.ManagerLocalOff(true))
				}
				if err := d.SetMany(ctx, kv); err != nil {
					b.Fatal(err)
				}
				if got := mp.DictAttached(d); got != (path == "shm" && runtime.GOOS == "linux") {
					b.Fatalf("the dict's table attached: %v", got)
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := fn(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		var i int
		run("Get", func() error {
			i++
			_, ok, err := d.Get(ctx, keys[i%100])
			if err == nil && !ok {
				err = fmt.Errorf("no value under %s", keys[i%100])
			}
			return err
		})
		run("GetMany100", func() error {
			got, err := d.GetMany(ctx, keys)
			if err == nil && len(got) != 100 {
				err = fmt.Errorf("GetMany returned %d values", len(got))
			}
			return err
		})
		run("Set", func() error {
			i++
			return d.Set(ctx, keys[i%100], val)
		})
		run("SetMany100", func() error { return d.SetMany(ctx, kv) })
	}
}
