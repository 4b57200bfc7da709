//go:build unix

package bench

import (
	"context"
	"time"
)

const (
	// bandwidthMsg is the size of each message of pipe_bandwidth: 64 MiB.
	bandwidthMsg = 64 << 20
	// bandwidthChunk is the size of the floor's write(2) calls.
	bandwidthChunk = 1 << 20
	// bandwidthWarmup is how many messages pipe_bandwidth sends unmeasured first: a new mp
	// child takes the first two at a third of its pace, while its heap grows to hold them.
	bandwidthWarmup = 2
)

// pipeBandwidth is workload h: large byte messages through a Pipe.
var pipeBandwidth = &Workload{
	Name:         "pipe_bandwidth",
	What:         "mp.Pipe[int]() (duplex): SendBytes of 64 MiB to a child that RecvBytes it and sends its length back",
	Unit:         "GB/s",
	Kind:         Throughput,
	Samples:      20,
	QuickSamples: 3,
	MP: func(ctx context.Context, s Size) (Result, error) {
		ds, err := Bandwidth(ctx, s.N, bandwidthWarmup, bandwidthMsg)
		if err != nil {
			return Result{}, err
		}
		return bandwidthResult(ds, map[string]any{
			"op":            "a, b := mp.Pipe[int](); b to a child running BytesSink; a.SendBytes(ctx, 64 MiB) + a.Recv(ctx) of its length",
			"message_bytes": bandwidthMsg, "warmup": bandwidthWarmup, "GB": "1e9 bytes",
		}), nil
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		ds, err := fl.Bandwidth(ctx, s.N, bandwidthWarmup, bandwidthMsg, bandwidthChunk)
		if err != nil {
			return Result{}, err
		}
		return bandwidthResult(ds, map[string]any{
			"op":            "64 MiB to trivial sink over one blocking unix socketpair (default buffers) in raw 1 MiB write(2)s; it reads into a 1 MiB buffer and answers one byte",
			"message_bytes": bandwidthMsg, "write_bytes": bandwidthChunk, "warmup": bandwidthWarmup, "GB": "1e9 bytes",
		}), nil
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 3}},
}

// bandwidthResult turns the durations of messages of bandwidthMsg bytes into GB/s samples.
func bandwidthResult(ds []time.Duration, params map[string]any) Result {
	r := Result{Params: params}
	for _, d := range ds {
		r.Samples = append(r.Samples, float64(bandwidthMsg)/float64(d.Nanoseconds())) // bytes/ns = GB/s
	}
	return r
}
