//go:build unix

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mp-go/mp"
)

// QuotaError is a registered error type with fields of several kinds; its Err travels as the
// chain, not as a field.
type QuotaError struct {
	User  string
	Limit int
	Where QuotaPlace
	Tags  []string
	Err   error `cbor:"-"`
}

// QuotaPlace is a nested struct of QuotaError.
type QuotaPlace struct {
	Host string
	Port int
}

func (e *QuotaError) Error() string { return fmt.Sprintf("%s is over quota %d", e.User, e.Limit) }
func (e *QuotaError) Unwrap() error { return e.Err }

// QuotaCode is a registered error type with a value receiver.
type QuotaCode int

func (c QuotaCode) Error() string { return fmt.Sprintf("quota code %d", int(c)) }

// UnknownQuotaError is an error type with fields that is not registered.
type UnknownQuotaError struct{ User string }

func (e *UnknownQuotaError) Error() string { return "unknown quota for " + e.User }

func init() {
	mp.RegisterErrorType[*QuotaError]("mp_test.quota")
	mp.RegisterErrorType[QuotaCode]("mp_test.quota_code")
}

func newQuotaError(user string) error {
	q := &QuotaError{User: user, Limit: 10, Where: QuotaPlace{Host: "db1", Port: 5432}, Tags: []string{"a", "b"}, Err: QuotaCode(7)}
	// The registered type behind a wrapping, with a registered sentinel beside it.
	return fmt.Errorf("charging %s: %w (%w)", user, q, ErrSoldOut)
}

var (
	FailQuota = mp.Register("test.fail_quota", func(ctx context.Context, user string) (int, error) {
		return 0, newQuotaError(user)
	})
	FailQuotaAt = mp.Register("test.fail_quota_at", func(ctx context.Context, x int) (int, error) {
		if x == 50 {
			return 0, newQuotaError(fmt.Sprint("item ", x))
		}
		return x, nil
	})
	PanicQuota = mp.Register("test.panic_quota", func(ctx context.Context, user string) (int, error) {
		panic(&QuotaError{User: user, Limit: 1})
	})
	FailUnknownQuota = mp.Register("test.fail_unknown_quota", func(ctx context.Context, user string) (int, error) {
		return 0, fmt.Errorf("looking up: %w", &UnknownQuotaError{User: user})
	})
)

// checkQuota checks that err carries the QuotaError of user, with its fields, the QuotaCode it
// wrapped and ErrSoldOut; across processes, as a *mp.ProcessError whose message is the child's.
func checkQuota(t *testing.T, err error, user string, remote bool) {
	t.Helper()
	var q *QuotaError
	if !errors.As(err, &q) {
		t.Fatalf("errors.As(%v, *QuotaError) = false", err)
	}
	if q.User != user || q.Limit != 10 || q.Where != (QuotaPlace{"db1", 5432}) || !slices.Equal(q.Tags, []string{"a", "b"}) {
		t.Fatalf("QuotaError = %+v", q)
	}
	var c QuotaCode
	if !errors.As(err, &c) || c != 7 {
		t.Fatalf("errors.As(QuotaCode) = %d in %v", c, err)
	}
	if !errors.Is(err, ErrSoldOut) {
		t.Fatalf("errors.Is(%v, ErrSoldOut) = false", err)
	}
	var pe *mp.ProcessError
	if errors.As(err, &pe) != remote {
		t.Fatalf("errors.As(%v, *mp.ProcessError) = %v", err, !remote)
	}
	if remote && (pe.Type != "*fmt.wrapErrors" || pe.FieldsErr != nil || pe.Unregistered != nil || strings.Contains(err.Error(), "RegisterErrorType") ||
		!strings.HasSuffix(err.Error(), fmt.Sprintf("charging %s: %s is over quota 10 (sold out)", user, user))) {
		t.Fatalf("ProcessError %+v: %v", pe, err)
	}
}

// TestErrorTypeAcrossProcesses: a registered error type returned in a child, wrapped, arrives
// with its fields for Run and for every executor's Apply, Submit+Wait, Map and MapSeq.
func TestErrorTypeAcrossProcesses(t *testing.T) {
	ctx := ctxT(t)
	_, err := mp.Run(ctx, FailQuota, "ann")
	checkQuota(t, err, "ann", true)

	_, err = mp.Run(ctx, PanicQuota, "bob")
	var pan *mp.PanicError
	var q *QuotaError
	if !errors.As(err, &pan) || !errors.As(err, &q) || q.User != "bob" || q.Limit != 1 {
		t.Fatalf("panic: %v; QuotaError %+v", err, q)
	}

	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ex := newEx(mp.WithWorkers(1))
		_, isGoroutines := ex.Executor.(*mp.GoroutinePool) // passes errors as they are
		remote := !isGoroutines
		_, err := mp.Apply(ctx, ex, FailQuota, "cy")
		checkQuota(t, err, "cy", remote)
		_, err = mp.Submit(ctx, ex, FailQuota, "dee").Wait(ctx)
		checkQuota(t, err, "dee", remote)
		_, err = mp.Map(ctx, ex, FailQuotaAt, ints(100), mp.WithChunkSize(10))
		checkQuota(t, err, "item 50", remote)
		var last error
		for _, err := range mp.MapSeq(ctx, ex, FailQuotaAt, slices.Values(ints(100)), mp.WithChunkSize(10)) {
			if err != nil {
				last = err
				break
			}
		}
		checkQuota(t, last, "item 50", remote)

		_, err = mp.Apply(ctx, ex, FailUnknownQuota, "eve")
		var u *UnknownQuotaError
		if errors.As(err, &u) != !remote {
			t.Fatalf("errors.As(%v, *UnknownQuotaError) = %v", err, remote)
		}
		if remote {
			var pe *mp.ProcessError
			if !errors.As(err, &pe) || !slices.Equal(pe.Unregistered, []string{"*mp_test.UnknownQuotaError"}) ||
				!strings.HasSuffix(err.Error(), "looking up: unknown quota for eve (register *mp_test.UnknownQuotaError with mp.RegisterErrorType to receive it with errors.As)") {
				t.Fatalf("unregistered type: %v (%+v)", err, pe)
			}
		}
	})
}

// TestErrorTypeUnregisteredRun: an unregistered error type returned by Run keeps today's
// *ProcessError, and its message says how to register the type.
func TestErrorTypeUnregisteredRun(t *testing.T) {
	_, err := mp.Run(ctxT(t), FailUnknownQuota, "fay")
	var pe *mp.ProcessError
	var u *UnknownQuotaError
	if !errors.As(err, &pe) || errors.As(err, &u) || pe.Message != "looking up: unknown quota for fay" || pe.Type != "*fmt.wrapError" ||
		!strings.Contains(err.Error(), "register *mp_test.UnknownQuotaError with mp.RegisterErrorType") {
		t.Fatalf("Run = %v (%+v)", err, pe)
	}
}
