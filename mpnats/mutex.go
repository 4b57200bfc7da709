package mpnats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mp-go/mp"
	"github.com/nats-io/nats.go/jetstream"
)

// Mutex is a mutual exclusion lock shared by processes on any host connected to the cluster:
// mp.Mutex made for machines that fail apart. Its state is one entry of a JetStream key-value
// bucket, a lease record: who holds it, and for how long a silence means the holder is dead. The
// holder's handle renews the record (a compare-and-swap, which changes its revision) every third
// of the lease while it holds the mutex. A waiter that sees the revision unchanged for a whole
// lease, on its own clock, takes the mutex over, and its Lock returns mp.ErrOwnerDead with the
// mutex held, as mp.Mutex's does when its holder died: repair what the mutex guards. So a holder
// killed, frozen or cut off loses the mutex a lease after its last renewal (WithLease; 10 s by
// default), and nothing depends on the hosts' clocks agreeing.
//
// Unlike mp.Mutex, the holder is the handle that locked it: Unlock on another handle (or when
// this one does not hold it) is an error matching mp.ErrNotHeld. Goroutines sharing one handle
// take turns: a second Lock on a handle that holds the mutex waits for its Unlock. A holder whose
// renewals were late by more than a lease (its process stopped, its host cut off) may have lost
// the mutex to a waiter meanwhile; its Unlock then says so (mp.ErrNotHeld), and Lost reports it
// at once.
//
// Close the handle when done: a held mutex's renewals run in a goroutine. Close of a holder stops
// them without unlocking, so the next holder gets mp.ErrOwnerDead, as after a death.
type Mutex struct {
	c     *Cluster
	name  string
	kv    jetstream.KeyValue
	lease time.Duration

	turn     chan struct{} // one token: the goroutine of this handle that may hold the mutex
	closedCh chan struct{} // closed by Close
	closeO   sync.Once

	mu     sync.Mutex
	held   bool
	lost   bool
	rev    uint64
	rec    leaseRecord
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// leaseRecord is what the mutex's key holds.
type leaseRecord struct {
	Held  bool   // the mutex is locked
	Owner string // a random id per acquisition
	Host  string // the holder's host name and pid, for messages
	Pid   int
	Lease int64 // ns: how long the record may stay unchanged before its holder counts as dead
}

// MutexOption configures NewMutex.
type MutexOption interface{ applyMutex(*Mutex) error }

type mutexOptionFunc func(*Mutex) error

func (f mutexOptionFunc) applyMutex(m *Mutex) error { return f(m) }

// WithLease sets the lease of the locks this handle takes: how long after its holder's last
// renewal a waiter takes the mutex over (renewals come every third of it). Between 100 ms and 1
// hour; 10 s by default. Each handle may have its own: a waiter goes by the holder's.
func WithLease(d time.Duration) MutexOption {
	return mutexOptionFunc(func(m *Mutex) error {
		if d < minLease || d > maxLease {
			return fmt.Errorf("%w: mpnats.WithLease(%v): the lease must be between %v and %v", mp.ErrInvalidOption, d, minLease, maxLease)
		}
		m.lease = d
		return nil
	})
}

const (
	minLease     = 100 * time.Millisecond
	maxLease     = time.Hour
	defaultLease = 10 * time.Second
	mutexBucket  = "mp-mutexes"
)

// NewMutex opens the mutex called name on c (1 to 64 letters, digits, '-' or '_'); a mutex
// nobody has locked yet is unlocked.
func NewMutex(ctx context.Context, c *Cluster, name string, opts ...MutexOption) (*Mutex, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: mpnats.NewMutex with a nil *Cluster", mp.ErrInvalidOption)
	}
	if err := checkName("NewMutex", name); err != nil {
		return nil, err
	}
	m := &Mutex{c: c, name: name, lease: defaultLease, turn: make(chan struct{}, 1), closedCh: make(chan struct{})}
	for _, o := range opts {
		if o != nil {
			if err := o.applyMutex(m); err != nil {
				return nil, err
			}
		}
	}
	m.turn <- struct{}{}
	kv, err := c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: mutexBucket, History: 1, Storage: jetstream.FileStorage})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = c.js.KeyValue(ctx, mutexBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("mpnats: NewMutex(%q): %w", name, err)
	}
	m.kv = kv
	return m, nil
}

func (m *Mutex) what(op string) string { return fmt.Sprintf("mpnats: Mutex %q: %s", m.name, op) }

// decodeLease decodes a lease record from the wire, bounding its lease.
func decodeLease(b []byte) (leaseRecord, error) {
	var r leaseRecord
	if err := decode("a Mutex lease record", b, &r); err != nil {
		return r, err
	}
	if r.Held && (r.Lease < int64(minLease) || r.Lease > int64(maxLease)) {
		return r, fmt.Errorf("%w: a Mutex lease record with a lease of %v, outside %v to %v", mp.ErrDecode, time.Duration(r.Lease), minLease, maxLease)
	}
	return r, nil
}

// Lock locks m, waiting until it is free or ctx ends. It returns an error matching
// mp.ErrOwnerDead, with m locked, when it took the mutex over from a holder that stopped renewing
// its lease (died, or was cut off) — within about a lease after the last renewal. When ctx ends
// first, nothing is locked and Lock returns ctx's error.
func (m *Mutex) Lock(ctx context.Context) error { return m.lock(ctx, false) }

// TryLock locks m if it is free now, and reports whether it did. It does not wait out a dead
// holder's lease (Lock does).
func (m *Mutex) TryLock(ctx context.Context) (bool, error) {
	err := m.lock(ctx, true)
	if errors.Is(err, errBusy) {
		return false, nil
	}
	return err == nil, err
}

var errBusy = errors.New("busy")

func (m *Mutex) lock(ctx context.Context, try bool) error {
	closed := fmt.Errorf("%w: %s on a closed handle", mp.ErrClosed, m.what("Lock"))
	select {
	case <-m.closedCh:
		return closed
	default:
	}
	if try {
		select {
		case <-m.turn:
		default:
			return errBusy
		}
	} else {
		select {
		case <-m.turn:
		case <-m.closedCh:
			return closed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := m.acquire(ctx, try)
	if err != nil && !errors.Is(err, mp.ErrOwnerDead) {
		m.turn <- struct{}{}
	}
	return err
}

// acquire takes the lease: a free record at once, a held one once its revision has stayed the
// same for the holder's lease.
func (m *Mutex) acquire(ctx context.Context, try bool) error {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return fmt.Errorf("%w: %s on a closed handle", mp.ErrClosed, m.what("Lock"))
	}
	host, _ := os.Hostname()
	var seenRev uint64
	var seenAt time.Time
	for {
		e, err := m.kv.Get(ctx, m.name)
		var rev uint64
		var cur leaseRecord
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: %w", m.what("Lock"), err)
		default:
			rev = e.Revision()
			if cur, err = decodeLease(e.Value()); err != nil {
				return fmt.Errorf("%s: %w", m.what("Lock"), err)
			}
		}
		dead := false
		if cur.Held {
			if rev != seenRev {
				seenRev, seenAt = rev, time.Now()
			} else if time.Since(seenAt) >= time.Duration(cur.Lease) {
				dead = true
			}
		}
		if !cur.Held || dead {
			rec := leaseRecord{Held: true, Owner: newOwnerID(), Host: host, Pid: os.Getpid(), Lease: int64(m.lease)}
			b, err := encode("a Mutex lease record", rec)
			if err != nil {
				return err
			}
			var nrev uint64
			if rev == 0 {
				nrev, err = m.kv.Create(ctx, m.name, b)
			} else {
				nrev, err = m.kv.Update(ctx, m.name, b, rev)
			}
			if err == nil {
				m.hold(nrev, rec)
				if dead {
					return fmt.Errorf("%w: %s: took over from %s pid %d, whose lease of %v ran out without renewal", mp.ErrOwnerDead, m.what("Lock"), cur.Host, cur.Pid, time.Duration(cur.Lease))
				}
				return nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("%s: %w", m.what("Lock"), err)
			}
			continue // another process wrote first: look again
		}
		if try {
			return errBusy
		}
		t := time.NewTimer(min(max(time.Duration(cur.Lease)/20, 2*time.Millisecond), 50*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func newOwnerID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// hold records the lease taken and starts renewing it.
func (m *Mutex) hold(rev uint64, rec leaseRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held, m.lost, m.rev, m.rec = true, false, rev, rec
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go m.renew(m.stop, m.done)
}

// renew rewrites the record every third of the lease, until stopped or the lease is lost.
func (m *Mutex) renew(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(m.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		m.mu.Lock()
		rev, rec := m.rev, m.rec
		m.mu.Unlock()
		b, err := encode("a Mutex lease record", rec)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.lease/3)
		nrev, err := m.kv.Update(ctx, m.name, b, rev)
		cancel()
		m.mu.Lock()
		switch {
		case err == nil:
			if m.rev == rev { // this goroutine's hold: Unlock waits for it before reading m.rev
				m.rev = nrev
			}
		case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			m.lost = true // taken over: this holder was thought dead
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
	}
}

// stopRenew stops the renewal goroutine and waits for it; m.mu must not be held.
func (m *Mutex) stopRenew() {
	m.mu.Lock()
	stop, done := m.stop, m.done
	m.stop, m.done = nil, nil
	m.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// Unlock unlocks m. It fails with an error matching mp.ErrNotHeld when this handle does not hold
// m (an Unlock of a handle that holds it, in another goroutine, came first), or held it and lost
// it to a waiter that took it over (see Mutex). A waiting Lock looks every twentieth of the
// holder's lease (at most every 50 ms), so it takes the mutex that long after an Unlock.
func (m *Mutex) Unlock(ctx context.Context) error {
	m.mu.Lock()
	if !m.held {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s: this handle does not hold the mutex", mp.ErrNotHeld, m.what("Unlock"))
	}
	m.held = false // a concurrent Unlock finds it not held
	m.mu.Unlock()
	m.stopRenew()
	m.mu.Lock()
	rev, lost := m.rev, m.lost
	m.lost = false
	m.mu.Unlock()
	defer func() { m.turn <- struct{}{} }()
	if lost {
		return fmt.Errorf("%w: %s: the lease ran out before it was renewed, and another process took the mutex over", mp.ErrNotHeld, m.what("Unlock"))
	}
	b, err := encode("a Mutex lease record", leaseRecord{})
	if err != nil {
		return err
	}
	if _, err := m.kv.Update(ctx, m.name, b, rev); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("%w: %s: the lease ran out before it was renewed, and another process took the mutex over", mp.ErrNotHeld, m.what("Unlock"))
		}
		// Not unlocked on the server: the lease runs out and the next holder gets ErrOwnerDead.
		return fmt.Errorf("%s: %w", m.what("Unlock"), err)
	}
	return nil
}

// Held reports whether this handle holds m (as far as it knows: see Lost).
func (m *Mutex) Held() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held && !m.lost
}

// Lost reports whether this handle locked m and then lost it to a waiter that found its lease
// run out; Unlock then fails.
func (m *Mutex) Lost() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost
}

// Locked reports whether m is locked, by any process, at this moment (a dead holder's lock
// counts until a waiter takes it over).
func (m *Mutex) Locked(ctx context.Context) (bool, error) {
	e, err := m.kv.Get(ctx, m.name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", m.what("Locked"), err)
	}
	r, err := decodeLease(e.Value())
	return r.Held, err
}

// Close releases this handle: it stops renewing a lock it holds, without unlocking (the next
// holder gets mp.ErrOwnerDead a lease later, as after a death). Later Locks on it fail with
// mp.ErrClosed. It is idempotent.
func (m *Mutex) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.closeO.Do(func() { close(m.closedCh) })
	m.stopRenew()
	return nil
}

// String describes the mutex: `mpnats.Mutex("jobs")`.
func (m *Mutex) String() string { return fmt.Sprintf("mpnats.Mutex(%q)", m.name) }
