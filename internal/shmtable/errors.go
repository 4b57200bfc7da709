package shmtable

import "errors"

// Sentinel errors. The root package wraps them in its own (ErrOwnerDead, ErrNotSupported,
// ErrClosed, ErrDecode…) where a table reaches users.
var (
	// ErrNotSupported is returned by Create and Attach where the platform has no memfd (all but
	// Linux).
	ErrNotSupported = errors.New("shmtable: not supported on this platform")
	// ErrNotTable is returned by Attach for a descriptor that is not a table of this version.
	ErrNotTable = errors.New("shmtable: not a shared memory table")
	// ErrCorrupt reports a table whose memory breaks its invariants: another process wrote into
	// it other than through this package. Operations on it fail; none crashes.
	ErrCorrupt = errors.New("shmtable: table corrupt")
	// ErrFull is returned by an operation that needs more memory than the table's MaxSize. The
	// table is as it was before the operation.
	ErrFull = errors.New("shmtable: table full")
	// ErrOwnerDead is returned, with the operation's result, by the first operation after a
	// process died holding the table's lock. The table was recovered first: it holds every
	// operation that completed, and the dead process's operation (or Locked batch) either whole
	// or not at all.
	ErrOwnerDead = errors.New("shmtable: a process died holding the table's lock")
	// ErrClosed is returned by operations on a closed Table.
	ErrClosed = errors.New("shmtable: table closed")
	// ErrInvalid reports an argument out of range (an option, a key or value too large, a write
	// inside Tx.Range).
	ErrInvalid = errors.New("shmtable: invalid argument")
)
