//go:build unix

package bench

import (
	"context"
	"time"
)

// queuePayload is the size of each item of queue_throughput_1k.
const queuePayload = 1024

// queueThroughput is workload f: small ints from one process to another through a Queue.
var queueThroughput = &Workload{
	Name:         "queue_throughput",
	What:         "a producer process puts the ints 0..Items-1 on an mp.Queue[int], a consumer process gets them",
	Unit:         "msgs/s",
	Kind:         Throughput,
	Samples:      10,
	QuickSamples: 2,
	Items:        1_000_000,
	QuickItems:   20_000,
	MP: func(ctx context.Context, s Size) (Result, error) {
		r := Result{Params: map[string]any{
			"op":    "mp.NewQueue[int](0); producer child Put(ctx, i) for i in 0..n-1, consumer child Get(ctx) n times",
			"items": s.Items,
			"timed": "from the go message to the producer to the consumer's done message; the children's starts excluded",
		}}
		for range s.N {
			took, err := QueueInts(ctx, s.Items)
			if err != nil {
				return Result{}, err
			}
			r.Samples = append(r.Samples, rate(s.Items, took))
		}
		return r, nil
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 10}},
}

// queueThroughput1k is workload f with 1 KiB []byte items, in MB/s.
var queueThroughput1k = &Workload{
	Name:         "queue_throughput_1k",
	What:         "a producer process puts Items 1 KiB []byte items on an mp.Queue[[]byte], a consumer process gets them",
	Unit:         "MB/s",
	Kind:         Throughput,
	Samples:      10,
	QuickSamples: 2,
	Items:        100_000,
	QuickItems:   5_000,
	MP: func(ctx context.Context, s Size) (Result, error) {
		r := Result{Params: map[string]any{
			"op":            "mp.NewQueue[[]byte](0); producer child Put(ctx, b) n times, consumer child Get(ctx) n times",
			"items":         s.Items,
			"payload_bytes": queuePayload,
			"MB":            "1e6 bytes",
			"timed":         "from the go message to the producer to the consumer's done message; the children's starts excluded",
		}}
		for range s.N {
			took, err := QueueBytes(ctx, s.Items, queuePayload)
			if err != nil {
				return Result{}, err
			}
			r.Samples = append(r.Samples, mbps(s.Items*queuePayload, took))
			r.addExtra("msgs_per_s", rate(s.Items, took))
		}
		return r, nil
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 5}},
}

// mbps returns n bytes in d as MB (1e6 bytes) per second.
func mbps(n int, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }
