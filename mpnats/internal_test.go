//go:build unix

package mpnats

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// A task from a binary whose registered functions differ is refused by the agent, clearly.
func TestAgentRefusesOtherBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	actx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- Serve(actx, c, WithSlots(1)) }()
	defer func() { stop(); <-served }()
	p, err := NewPool(ctx, c, "mismatch")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.hash = "0123456789abcdef0123456789abcdef"
	done := make(chan mp.Result, 1)
	call, err := mp.NewCall("mpnats_test.square", []byte{0x03}, 0, func(r mp.Result) { done <- r })
	if err != nil {
		t.Fatal(err)
	}
	p.Execute(ctx, call)
	select {
	case r := <-done:
		if !errors.Is(r.Err, ErrBinaryMismatch) || !strings.Contains(r.Err.Error(), "same build") {
			t.Fatalf("a task of another binary: %v", r.Err)
		}
	case <-ctx.Done():
		t.Fatal("no answer to a task of another binary")
	}
}

// The envelopes decode whatever arrives without panicking, and round-trip.
func FuzzEnvelopes(f *testing.F) {
	f.Add(marshal(taskEnv{ID: "x", Func: "f", Arg: []byte{1}, Hash: "h", MaxAttempts: 3, Reply: "r"}))
	f.Add(marshal(resultEnv{ID: "x", Value: []byte{1}, Err: mp.MarshalError(errors.New("e"))}))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var te taskEnv
		if unmarshal(b, &te) == nil {
			var again taskEnv
			if err := unmarshal(marshal(te), &again); err != nil || again.ID != te.ID || again.Func != te.Func {
				t.Fatalf("task envelope does not round-trip: %v", err)
			}
		}
		var re resultEnv
		if unmarshal(b, &re) == nil {
			_ = mp.UnmarshalError(re.Err)
		}
		var hb heartbeat
		_ = unmarshal(b, &hb)
	})
}
