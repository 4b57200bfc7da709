//go:build unix

package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/mp-go/mp"
)

// listenKey is the auth key of listen_pingpong, mp and Python alike.
var listenKey = []byte("listen_pingpong's auth key, 32 b")

// ListenJob tells a child where to dial and how many messages to echo.
type ListenJob struct {
	Addr string
	Key  []byte
	N    int
}

// ListenEcho dials the listener at j.Addr over TCP with the key, and answers each of N byte
// messages with the same bytes: the child of listen_pingpong.
var ListenEcho = mp.Register("bench.listen_echo", func(ctx context.Context, j ListenJob) (struct{}, error) {
	c, err := mp.Dial[[]byte](ctx, "tcp", j.Addr, mp.WithAuthKey(j.Key))
	if err != nil {
		return struct{}{}, err
	}
	defer c.Close()
	for range j.N {
		b, err := c.RecvBytes(ctx)
		if err != nil {
			return struct{}{}, err
		}
		if err := c.SendBytes(ctx, b); err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
})

// ListenPingPong listens on TCP loopback with an auth key, starts a child running ListenEcho,
// and sends it an 8-byte message with SendBytes and receives it back, warm times unmeasured, then
// n times timed: the operation of listen_pingpong. It returns each timed round trip.
func ListenPingPong(ctx context.Context, n, warm int) (rts []time.Duration, err error) {
	l, err := mp.Listen(ctx, "tcp", "127.0.0.1:0", mp.WithAuthKey(listenKey))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	p := mp.NewProcess(ListenEcho, ListenJob{Addr: l.Addr(), Key: listenKey, N: warm + n})
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	c, err := mp.Accept[[]byte](ctx, l)
	if err != nil {
		return nil, failRun(err, p)
	}
	defer func() {
		c.Close()
		if err != nil {
			err = failRun(err, p)
		} else {
			err = p.Wait(ctx)
		}
	}()
	msg := []byte("pingpong")
	rts = make([]time.Duration, 0, n)
	for i := -warm; i < n; i++ {
		t0 := time.Now()
		if err := c.SendBytes(ctx, msg); err != nil {
			return nil, err
		}
		b, err := c.RecvBytes(ctx)
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if string(b) != string(msg) {
			return nil, fmt.Errorf("bench: ListenEcho sent back %q, want %q", b, msg)
		}
		if i >= 0 {
			rts = append(rts, d)
		}
	}
	return rts, nil
}

// listenPingPong is an 8-byte message's round trip over an authenticated TCP loopback
// connection: Python's Listener/Client against mp's Listen/Dial.
var listenPingPong = &Workload{
	Name:         "listen_pingpong",
	What:         "mp.Listen(tcp 127.0.0.1, WithAuthKey) + a child's mp.Dial: SendBytes(8 bytes) echoed back, RecvBytes; each round trip timed",
	Unit:         "µs",
	Kind:         Latency,
	Samples:      5000,
	QuickSamples: 200,
	MP: func(ctx context.Context, s Size) (Result, error) {
		rts, err := ListenPingPong(ctx, s.N, pingPongWarmup)
		if err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":     "l := mp.Listen(ctx, \"tcp\", \"127.0.0.1:0\", mp.WithAuthKey(k)); a child mp.Dial[[]byte]s it and echoes; c.SendBytes(ctx, 8 bytes) + c.RecvBytes(ctx)",
			"warmup": pingPongWarmup,
		}}
		for _, d := range rts {
			r.Samples = append(r.Samples, us(d))
		}
		return r, nil
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 1}},
}
