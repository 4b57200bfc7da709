package mp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/mp-go/mp/internal/shmtable"
)

// The client's side of the local fast path (see manager_table.go): a Dict's operations run on
// the dict's table in this process, under the table's robust lock, with no round trip to the
// manager. An operation the manager must do — on an entry that holds proxies, or writing a
// value that may hold one — falls back to the socket (errTableFallback), as does every operation
// once the manager is gone (the socket then says how: ErrManagerDead, or ErrClosed after a
// Shutdown or Close).
//
// Manager death: the table's memory lives on in this process's mapping after the manager dies,
// so the table alone cannot tell. The manager's death pipe can: its write end is open in the
// manager only, so its read end, which every attach reply carries, reads end of file once the
// manager has exited, however it did. One goroutine per client (per manager, per process) waits
// on it in the runtime's poller and sets c.dead; every direct operation loads c.dead first (one
// atomic load). A process that dies holding a table's lock is recovered from by the next
// operation (shmtable.ErrOwnerDead): the table holds every completed operation and the dead
// one whole or not at all, so a Dict operation does not report it; the dict is consistent.

// managerLocalOff turns the fast path off in this process (tests of the socket path).
var managerLocalOff atomic.Bool

// errTableFallback is a direct operation's way of saying "ask the manager".
var errTableFallback = errors.New("mp: (internal) the manager must do this operation")

// dictTable is a dict's table attached in this process.
type dictTable struct{ t *shmtable.Table }

func (d *dictTable) close() { d.t.Close() }

// table returns p's table, attaching it on first use; nil (and no error) means: use the socket.
// An error is the attach's (the object is gone, the manager is dead).
func (p *proxyBase) table(ctx context.Context) (*shmtable.Table, error) {
	if !shmtable.Supported || p.c.dead.Load() || managerLocalOff.Load() {
		return nil, nil
	}
	if t := p.tab.Load(); t != nil {
		return t.t, nil
	}
	if p.noTab.Load() || p.kind != dictKind {
		return nil, nil
	}
	t, err := p.c.attachTable(ctx, p.id)
	if err != nil || t == nil {
		if err == nil {
			p.noTab.Store(true)
		}
		return nil, err
	}
	p.tab.Store(t)
	return t.t, nil
}

// attachTable returns this process's table of object id, asking the manager for it (one round
// trip, once per object per process). nil means the manager has none to give.
func (c *managerClient) attachTable(ctx context.Context, id uint64) (*dictTable, error) {
	c.mu.Lock()
	t := c.tabs[id]
	c.mu.Unlock()
	if t != nil {
		return t, nil
	}
	rep, err := c.callFDs(ctx, managerOpAttach, &mreq{Obj: id})
	if err != nil {
		return nil, err
	}
	if len(rep.fds) != 2 {
		closeFDs(rep.fds)
		return nil, nil
	}
	tab, err := shmtable.Attach(rep.fds[0])
	if err != nil {
		closeFDs(rep.fds[1:])
		return nil, nil // not a table this binary knows: the socket it is
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.death == nil && c.err == nil {
		c.death = watchDeath(rep.fds[1])
		go c.watchDeath(c.death)
	} else {
		closeFDs(rep.fds[1:])
	}
	if c.local[id] == 0 || c.tabs[id] != nil { // closed meanwhile, or attached by another goroutine
		tab.Close()
		return c.tabs[id], nil
	}
	if c.tabs == nil {
		c.tabs = map[uint64]*dictTable{}
	}
	t = &dictTable{t: tab}
	c.tabs[id] = t
	return t, nil
}

// watchDeath waits for the death pipe's end of file (the manager exited) or for fail to close
// it, and marks the client dead.
func (c *managerClient) watchDeath(f *os.File) {
	var b [1]byte
	for {
		if _, err := f.Read(b[:]); err != nil {
			break
		}
	}
	c.dead.Store(true)
	c.mu.Lock()
	if c.death == f {
		c.death = nil
		f.Close()
	}
	c.mu.Unlock()
}

// tableErr turns a direct operation's error into what to return: nil for a recovered table
// (ErrOwnerDead: see above), errTableFallback for a table closed meanwhile (the socket then
// says why), the package's error otherwise.
func tableErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errTableFallback), errors.Is(err, shmtable.ErrClosed):
		return errTableFallback
	case errors.Is(err, shmtable.ErrOwnerDead) && !errors.Is(err, shmtable.ErrFull) && !errors.Is(err, shmtable.ErrInvalid) && !errors.Is(err, shmtable.ErrCorrupt):
		return nil
	}
	return tableError(err)
}

// tableErrOf is tableErr for an operation on t, which it counts in the table's operation
// counter (ManagerStats.Ops) unless it falls back to the manager, which then counts it.
func tableErrOf(t *shmtable.Table, err error) error { return counted(t, tableErr(err)) }

// counted counts an operation on t that ended with err (tableErr's), unless it falls back.
func counted(t *shmtable.Table, err error) error {
	if err != errTableFallback {
		t.CountOp()
	}
	return err
}

// mayHoldProxy reports whether an encoded value may hold a proxy: then the manager stores it.
func mayHoldProxy(b []byte) bool { return bytes.Contains(b, managerRefPrefix) }

// checkEntrySize refuses an entry bigger than one message to the manager can carry, as the
// socket path does: every client must be able to read it back.
func checkEntrySize(key, val []byte) error {
	if n := len(key) + len(val); n > managerMaxFrame-64 {
		return fmt.Errorf("%w: a Dict entry of %d bytes (at most %d: what one message to the manager carries)", ErrTooLarge, n, managerMaxFrame-64)
	}
	return nil
}

// plainValue returns val with the flag byte that marks it as holding no proxy.
func plainValue(val []byte) []byte {
	b := make([]byte, 1+len(val))
	copy(b[1:], val)
	return b
}

// peekPlain reads key in tx: its value (without the flag), whether there is one, and
// errTableFallback if the entry holds proxies.
func peekPlain(tx *shmtable.Tx, key []byte) (val []byte, rev uint64, ok bool, err error) {
	v, rev, ok, err := tx.Peek(key)
	if err != nil || !ok {
		return nil, 0, false, err
	}
	if len(v) == 0 || v[0] != tableFlagPlain {
		return nil, 0, false, errTableFallback
	}
	return v[1:], rev, true, nil
}

// The direct operations. Each returns errTableFallback when the manager must do it.

func tableGet(ctx context.Context, t *shmtable.Table, key []byte) (val []byte, rev uint64, ok bool, err error) {
	v, rev, ok, err := t.Get(ctx, key, nil)
	if err = tableErr(err); err == nil && ok && (len(v) == 0 || v[0] != tableFlagPlain) {
		return nil, 0, false, errTableFallback
	}
	if err = counted(t, err); err != nil || !ok {
		return nil, 0, false, err
	}
	return v[1:], rev, true, nil
}

// tableWrite runs write on the entry under key, unless it holds proxies.
func tableWrite(ctx context.Context, t *shmtable.Table, key []byte, write func(tx *shmtable.Tx, cur []byte, rev uint64, ok bool) error) error {
	return tableErrOf(t, t.Locked(ctx, func(tx *shmtable.Tx) error {
		cur, rev, ok, err := peekPlain(tx, key)
		if err != nil {
			return err
		}
		return write(tx, cur, rev, ok)
	}))
}

func tableSet(ctx context.Context, t *shmtable.Table, key, val []byte) (uint64, error) {
	if mayHoldProxy(val) {
		return 0, errTableFallback
	}
	if err := checkEntrySize(key, val); err != nil {
		return 0, err
	}
	var nrev uint64
	err := tableWrite(ctx, t, key, func(tx *shmtable.Tx, _ []byte, _ uint64, _ bool) (err error) {
		nrev, err = tx.Set(key, plainValue(val))
		return err
	})
	return nrev, err
}

func tableCAS(ctx context.Context, t *shmtable.Table, key, val []byte, old uint64) (uint64, bool, error) {
	if mayHoldProxy(val) {
		return 0, false, errTableFallback
	}
	if err := checkEntrySize(key, val); err != nil {
		return 0, false, err
	}
	var nrev uint64
	var swapped bool
	err := tableWrite(ctx, t, key, func(tx *shmtable.Tx, _ []byte, _ uint64, _ bool) (err error) {
		nrev, swapped, err = tx.CompareAndSwap(key, plainValue(val), old)
		return err
	})
	return nrev, swapped, err
}

func tableDelete(ctx context.Context, t *shmtable.Table, key []byte) (bool, error) {
	var found bool
	err := tableWrite(ctx, t, key, func(tx *shmtable.Tx, _ []byte, _ uint64, ok bool) (err error) {
		if ok {
			found, err = tx.Delete(key)
		}
		return err
	})
	return found, err
}

// tableEach calls fn with every entry, under the lock; an entry holding proxies stops it with
// errTableFallback when plain is set.
func tableEach(ctx context.Context, t *shmtable.Table, plain bool, fn func(k, v []byte)) error {
	return tableErrOf(t, t.Locked(ctx, func(tx *shmtable.Tx) error {
		var err error
		rerr := tx.Range(func(k, v []byte, _ uint64) bool {
			if len(v) == 0 || v[0] != tableFlagPlain && plain {
				err = errTableFallback
				return false
			}
			fn(k, v[1:])
			return true
		})
		if err != nil {
			return err
		}
		return rerr
	}))
}

func tableClear(ctx context.Context, t *shmtable.Table) error {
	return tableErrOf(t, t.Locked(ctx, func(tx *shmtable.Tx) error {
		var held bool
		if err := tx.Range(func(_, v []byte, _ uint64) bool {
			held = len(v) == 0 || v[0] != tableFlagPlain
			return !held
		}); err != nil {
			return err
		}
		if held {
			return errTableFallback
		}
		return tx.Clear()
	}))
}

// tableGetMany reads keys (encoded in kbs) under one taking of the lock. Values of a type the
// fast codec knows are decoded in place, under the lock (the decoder runs no code of the
// user's); others are copied out, into one buffer, and decoded after it.
func tableGetMany[K comparable, V any](ctx context.Context, t *shmtable.Table, keys []K, kbs [][]byte) (map[K]V, error) {
	out := make(map[K]V, len(keys))
	inPlace := basicType[V]()
	var vals [][]byte
	var buf []byte
	if !inPlace {
		vals = make([][]byte, len(keys))
	}
	err := tableErrOf(t, t.Locked(ctx, func(tx *shmtable.Tx) error {
		for i, kb := range kbs {
			v, _, ok, err := peekPlain(tx, kb)
			if err != nil {
				return err
			}
			switch {
			case !ok:
			case inPlace:
				x, err := managerDecoded[V]("a Dict value", v)
				if err != nil {
					return err
				}
				out[keys[i]] = x
			default:
				n := len(buf)
				buf = append(buf, v...)
				vals[i] = buf[n:len(buf):len(buf)]
			}
		}
		return nil
	}))
	if err != nil || inPlace {
		return out, err
	}
	rebase(buf, vals)
	for i, v := range vals {
		if v == nil {
			continue
		}
		x, err := managerDecoded[V]("a Dict value", v)
		if err != nil {
			return nil, err
		}
		out[keys[i]] = x
	}
	return out, nil
}

// tableSetMany stores keys and fvals (values behind their flag byte) under one taking of the
// lock, all or nothing.
func tableSetMany(ctx context.Context, t *shmtable.Table, keys, fvals [][]byte) error {
	for i, fv := range fvals {
		if mayHoldProxy(fv[1:]) {
			return errTableFallback
		}
		if err := checkEntrySize(keys[i], fv[1:]); err != nil {
			return err
		}
	}
	return tableErrOf(t, t.Locked(ctx, func(tx *shmtable.Tx) error {
		for i, k := range keys {
			if _, _, _, err := peekPlain(tx, k); err != nil {
				return err
			}
			if _, err := tx.Set(k, fvals[i]); err != nil {
				return err
			}
		}
		return nil
	}))
}

// tableUpdate runs the update function uf in this process, under the table's lock: atomic as
// in the manager, since every other operation on the dict takes that lock too. A current
// value that holds proxies, or a new one that may, is the manager's to handle: then the
// function has run here for nothing, and runs again there (errTableFallback). An error of the
// function stores nothing and is returned as it is.
func tableUpdate(ctx context.Context, t *shmtable.Table, key []byte, uf updater, name string, arg []byte) ([]byte, error) {
	var out []byte
	var fnErr error
	err := t.Locked(ctx, func(tx *shmtable.Tx) error {
		cur, _, ok, err := peekPlain(tx, key)
		if err != nil {
			return err
		}
		val, err := applyUpdate(uf, name, cur, ok, arg)
		if err != nil {
			fnErr = err
			return err
		}
		if mayHoldProxy(val) {
			return errTableFallback
		}
		if err := checkEntrySize(key, val); err != nil {
			fnErr = err
			return err
		}
		out = val
		_, err = tx.Set(key, plainValue(val))
		return err
	})
	if fnErr != nil {
		return nil, counted(t, fnErr)
	}
	return out, tableErrOf(t, err)
}
