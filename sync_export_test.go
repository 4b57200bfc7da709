package mp

import "sync/atomic"

// What the external tests look at to know that a process or goroutine is waiting: each is a fact
// the waiter publishes before it sleeps, so a test can wait for it instead of sleeping.

// MutexHasWaiter reports whether a waiter has announced that it sleeps on m (the lock word's
// contended flag).
func MutexHasWaiter(m *Mutex) bool { return atomic.LoadUint64(m.w)&lockContended != 0 }

// SemaphoreHasWaiter reports whether a waiter has announced that it sleeps on s.
func SemaphoreHasWaiter(s *Semaphore) bool { return atomic.LoadUint32(s.waiting) != 0 }

// EventHasWaiter reports whether a waiter has announced that it sleeps on e.
func EventHasWaiter(e *Event) bool { return atomic.LoadUint32(e.waiting) != 0 }

// CondWaiters returns the number of waiters in c's Wait that no wake-up has chosen yet.
func CondWaiters(c *Cond) int { return int(uint32(atomic.LoadUint64(c.count))) }

// QueueGetterAsleep reports whether a Get has announced that it sleeps on q, for a value.
func QueueGetterAsleep[T any](q *Queue[T]) bool { return atomic.LoadUint32(q.r.cwait) != 0 }

// QueuePutterAsleep reports whether a Put has announced that it sleeps on q, for room.
func QueuePutterAsleep[T any](q *Queue[T]) bool { return atomic.LoadUint32(q.r.pwait) != 0 }

// QueueJoinerAsleep reports whether a Join has announced that it sleeps on q.
func QueueJoinerAsleep[T any](q *JoinableQueue[T]) bool { return atomic.LoadUint32(q.q.r.jwait) != 0 }

// ClearQueueSleepFlags forgets that Gets or Puts announced they sleep on q, for a test that
// wants to see a new one announce it: a sleeper raises its flag again each time it sleeps.
func ClearQueueSleepFlags[T any](q *Queue[T]) {
	atomic.StoreUint32(q.r.cwait, 0)
	atomic.StoreUint32(q.r.pwait, 0)
}
