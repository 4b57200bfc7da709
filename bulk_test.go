//go:build unix

package mp_test

import (
	"bytes"
	"context"
	"hash/crc64"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

var (
	// BulkSum returns the checksum of a big argument.
	BulkSum = mp.Register("test.bulk_sum", func(ctx context.Context, b []byte) (uint64, error) {
		return crc64.Checksum(b, crcTable), nil
	})
	// BulkFlip returns its argument with every byte complemented: a big result.
	BulkFlip = mp.Register("test.bulk_flip", func(ctx context.Context, b []byte) ([]byte, error) {
		out := make([]byte, len(b))
		for i, c := range b {
			out[i] = ^c
		}
		return out, nil
	})
)

// bulkInput returns n bytes of a pattern.
func bulkInput(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>11)
	}
	return b
}

// vmRSS returns this process's resident set, in bytes, from /proc/self/status.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// A 64 MB argument and result through Apply, Submit, Map and Run arrive intact, and the parent's
// memory for 7 pending calls with the same argument grows by a few copies of it, not 7 or 14.
func TestBulkArgumentsAndResults(t *testing.T) {
	const size = 64 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := bulkInput(size)
	want := crc64.Checksum(in, crcTable)
	flipped := make([]byte, size)
	for i, c := range in {
		flipped[i] = ^c
	}
	wantFlip := crc64.Checksum(flipped, crcTable)
	flipped = nil
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	runtime.GC()
	before := vmRSS(t)
	var futs []*mp.Future[uint64]
	for range 7 {
		futs = append(futs, mp.Submit(ctx, p, BulkSum, in))
	}
	for i, f := range futs {
		got, err := f.Wait(ctx)
		if err != nil || got != want {
			t.Fatalf("Submit %d: checksum %x, %v; want %x", i, got, err, want)
		}
	}
	if grew := vmRSS(t) - before; !raceEnabled && grew > 3*size {
		t.Errorf("7 calls with the same 64 MB argument: the parent grew by %d MB; want at most %d", grew>>20, 3*size>>20)
	}

	out, err := mp.Apply(ctx, p, BulkFlip, in)
	if err != nil || len(out) != size || crc64.Checksum(out, crcTable) != wantFlip {
		t.Fatalf("Apply: %d bytes, %v; want the complement of the argument", len(out), err)
	}
	out = nil

	sums, err := mp.Map(ctx, p, BulkSum, [][]byte{in, in[:size/2]})
	if err != nil || len(sums) != 2 || sums[0] != want || sums[1] != crc64.Checksum(in[:size/2], crcTable) {
		t.Fatalf("Map: %x, %v", sums, err)
	}

	rs, err := mp.Run(ctx, BulkSum, in)
	if err != nil || rs != want {
		t.Fatalf("Run: %x, %v; want %x", rs, err, want)
	}
}

// A small argument and result take the pipe as before: the same answers, no shared memory.
func TestBulkSmallUnchanged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := mp.NewPool(ctx, mp.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in := bulkInput(1000)
	out, err := mp.Apply(ctx, p, BulkFlip, in)
	if err != nil || len(out) != len(in) || out[0] != ^in[0] || !bytes.Equal(out[1:2], []byte{^in[1]}) {
		t.Fatalf("Apply: %v", err)
	}
}
