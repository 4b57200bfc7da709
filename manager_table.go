package mp

import (
	"context"
	"errors"
	"fmt"

	"github.com/mp-go/mp/internal/shmtable"
	"github.com/mp-go/mp/internal/sys"
)

// The manager's dicts live in shared memory (Linux): each managed Dict is an internal/shmtable
// table, created by the manager with the dict. The manager serves every operation on it from the
// table, under the table's lock, for any client; a local client — any process that can receive a
// descriptor over the manager's Unix socket — asks once per dict for the table (managerOpAttach,
// whose reply carries the table's descriptor and the manager's death pipe by SCM_RIGHTS) and
// then runs the dict's operations on the table itself, without a round trip
// (manager_table_client.go). Both see one state, under one lock.
//
// Nested proxies: the manager counts the objects a stored value refers to (mentry.refs), which
// only it can do. Every value in a table starts with a flag byte: tableFlagPlain, or
// tableFlagRefs for a value that holds proxies, whose references the manager keeps beside the
// table (mobj.trefs). A client never writes a value that may hold a proxy (its encoding holds
// the proxy tag), nor touches an entry flagged tableFlagRefs (it would drop references the
// manager counts, or hand out proxies the manager did not count for it): such operations go to
// the manager, as every operation did before. A well-behaved client therefore keeps the
// invariant: a key is in mobj.trefs exactly when its entry is flagged tableFlagRefs.
//
// Elsewhere (no memfd: macOS, or a table that could not be made), a dict is a Go map in the
// manager, and every operation is a round trip.

const (
	tableFlagPlain byte = 0 // the value holds no proxy
	tableFlagRefs  byte = 1 // the value holds proxies: the manager's to read and write
)

// dictStore is where a map object's entries live: a Go map, or a table under its lock.
type dictStore interface {
	// get returns the entry under k, or nil.
	get(k []byte) (*mentry, error)
	// put stores e under k, setting e.rev, and returns the entry it replaced (or nil).
	put(k []byte, e *mentry) (*mentry, error)
	// del removes k and returns the entry it held (or nil).
	del(k []byte) (*mentry, error)
	size() int
	// each calls fn with every entry; fn may not write.
	each(fn func(k []byte, e *mentry)) error
	// clear removes every entry and returns those that held references.
	clear() ([]*mentry, error)
}

// mapStore is a dict as a Go map: revisions from the manager's counter.
type mapStore struct {
	s *managerServer
	m map[string]*mentry
}

func (st mapStore) get(k []byte) (*mentry, error) { return st.m[string(k)], nil }

func (st mapStore) put(k []byte, e *mentry) (*mentry, error) {
	st.s.rev++
	e.rev = st.s.rev
	old := st.m[string(k)]
	st.m[string(k)] = e
	return old, nil
}

func (st mapStore) del(k []byte) (*mentry, error) {
	old := st.m[string(k)]
	delete(st.m, string(k))
	return old, nil
}

func (st mapStore) size() int { return len(st.m) }

func (st mapStore) each(fn func(k []byte, e *mentry)) error {
	for k, e := range st.m {
		fn([]byte(k), e)
	}
	return nil
}

func (st mapStore) clear() ([]*mentry, error) {
	var held []*mentry
	for k, e := range st.m {
		if len(e.refs) > 0 {
			held = append(held, e)
		}
		delete(st.m, k)
	}
	return held, nil
}

// tableStore is a dict as a table, inside one Locked batch. Its changes to o.trefs are
// journaled, so that a batch that fails leaves them as the table: as they were.
type tableStore struct {
	o       *mobj
	tx      *shmtable.Tx
	journal []trefsChange
	buf     []byte
}

type trefsChange struct {
	key  string
	refs []uint64
	had  bool
}

func (st *tableStore) get(k []byte) (*mentry, error) {
	v, rev, ok, err := st.tx.Get(k, nil)
	if err != nil || !ok {
		return nil, err
	}
	if len(v) == 0 || v[0] > tableFlagRefs {
		return nil, fmt.Errorf("%w: an entry of a managed dict's table has no valid flag byte", ErrProtocol)
	}
	e := &mentry{val: v[1:], rev: rev}
	if v[0] == tableFlagRefs {
		e.refs = st.o.trefs[string(k)]
	}
	return e, nil
}

func (st *tableStore) setRefs(k string, refs []uint64) *mentry {
	old, had := st.o.trefs[k]
	st.journal = append(st.journal, trefsChange{key: k, refs: old, had: had})
	if len(refs) > 0 {
		st.o.trefs[k] = refs
	} else {
		delete(st.o.trefs, k)
	}
	if !had {
		return nil
	}
	return &mentry{refs: old}
}

func (st *tableStore) put(k []byte, e *mentry) (*mentry, error) {
	flag := tableFlagPlain
	if len(e.refs) > 0 {
		flag = tableFlagRefs
	}
	st.buf = append(append(st.buf[:0], flag), e.val...)
	rev, err := st.tx.Set(k, st.buf)
	if err != nil {
		return nil, err
	}
	e.rev = rev
	return st.setRefs(string(k), e.refs), nil
}

func (st *tableStore) del(k []byte) (*mentry, error) {
	found, err := st.tx.Delete(k)
	if err != nil || !found {
		return nil, err
	}
	if old := st.setRefs(string(k), nil); old != nil {
		return old, nil
	}
	return &mentry{}, nil
}

func (st *tableStore) size() int { return st.tx.Len() }

func (st *tableStore) each(fn func(k []byte, e *mentry)) error {
	var bad bool
	err := st.tx.Range(func(k, v []byte, rev uint64) bool {
		if len(v) == 0 || v[0] > tableFlagRefs {
			bad = true
			return false
		}
		e := &mentry{val: append([]byte(nil), v[1:]...), rev: rev}
		if v[0] == tableFlagRefs {
			e.refs = st.o.trefs[string(k)]
		}
		fn(append([]byte(nil), k...), e)
		return true
	})
	if err == nil && bad {
		err = fmt.Errorf("%w: an entry of a managed dict's table has no valid flag byte", ErrProtocol)
	}
	return err
}

func (st *tableStore) clear() ([]*mentry, error) {
	if err := st.tx.Clear(); err != nil {
		return nil, err
	}
	var held []*mentry
	for k := range st.o.trefs {
		if old := st.setRefs(k, nil); old != nil {
			held = append(held, old)
		}
	}
	return held, nil
}

// getMany is GetMany's reading of the table: the values copied into one buffer, without an
// entry each.
func (st *tableStore) getMany(s *managerServer, c *mconn, keys [][]byte, rep *mrep) error {
	buf := make([]byte, 0, 32*len(keys))
	for i, k := range keys {
		v, rev, ok, err := st.tx.Peek(k)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if len(v) < 2 || v[0] > tableFlagRefs {
			return fmt.Errorf("%w: an entry of a managed dict's table has no valid flag byte", ErrProtocol)
		}
		if v[0] == tableFlagRefs {
			s.attach(c, &mentry{refs: st.o.trefs[string(k)]})
		}
		n := len(buf)
		buf = append(buf, v[1:]...)
		rep.Vals[i], rep.Revs[i] = buf[n:], rev
	}
	rebase(buf, rep.Vals)
	return nil
}

// setManyPlain is SetMany's writing of the table when no value may hold a proxy and no key's
// entry holds one: nothing to count, so no entry each, only the table's writes. done is false
// (and nothing written) otherwise: then the general path, which counts references, does it.
func (st *tableStore) setManyPlain(keys, vals [][]byte) (done bool, err error) {
	for i, v := range vals {
		if mayHoldProxy(v) {
			return false, nil
		}
		if len(st.o.trefs) > 0 {
			if _, held := st.o.trefs[string(keys[i])]; held {
				return false, nil
			}
		}
	}
	for i, k := range keys {
		st.buf = append(append(st.buf[:0], tableFlagPlain), vals[i]...)
		if _, err := st.tx.Set(k, st.buf); err != nil {
			return true, err
		}
	}
	return true, nil
}

// rollback undoes the batch's changes to o.trefs (the table undoes its own).
func (st *tableStore) rollback() {
	for i := len(st.journal) - 1; i >= 0; i-- {
		c := st.journal[i]
		if c.had {
			st.o.trefs[c.key] = c.refs
		} else {
			delete(st.o.trefs, c.key)
		}
	}
	st.journal = nil
}

// newDictTable makes the table of a new dict, or returns nil where there are none (the dict is
// then a map in the manager).
func (s *managerServer) newDictTable() *shmtable.Table {
	if !shmtable.Supported || s.death == nil {
		return nil
	}
	t, err := shmtable.Create(shmtable.Options{MaxSize: s.tableMax})
	if err != nil {
		return nil // out of memory or descriptors: this dict is served from a map
	}
	return t
}

// freeTable closes the table of an object freed: not under s.mu, since an operation of this
// process may hold the table's lock and wait for s.mu (handleTable takes them in that order).
func freeTable(t *shmtable.Table) {
	if t != nil {
		go t.Close()
	}
}

// tableOp reports whether op, on a map object, runs on its table (under the table's lock).
func tableOp(op byte) bool { return op >= managerOpGet && op <= managerOpAdd }

// handleTable runs op on the dict o, whose entries are in a table: the table's lock, then the
// manager's (the order every path takes).
func (s *managerServer) handleTable(c *mconn, o *mobj, op byte, req *mreq) *mrep {
	rep := &mrep{}
	var fnErr error
	err := o.tab.Locked(context.Background(), func(tx *shmtable.Tx) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closing {
			fnErr = fmt.Errorf("%w: the manager is shutting down", ErrClosed)
			return fnErr
		}
		if s.objs[req.Obj] != o {
			_, fnErr = s.object(req.Obj)
			return fnErr
		}
		st := &tableStore{o: o, tx: tx}
		fnErr = s.runDict(c, st, op, req, rep)
		if fnErr != nil {
			st.rollback()
		}
		return fnErr
	})
	switch {
	case fnErr != nil:
		err = fnErr
	case errors.Is(err, shmtable.ErrOwnerDead):
		err = nil // the table was recovered, and the operation ran
	case errors.Is(err, shmtable.ErrClosed):
		s.mu.Lock()
		_, err = s.object(req.Obj)
		s.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("%w: managed object %d no longer exists", ErrClosed, req.Obj)
		}
	}
	if err != nil {
		return &mrep{Err: toWire(tableError(err))}
	}
	return rep
}

// runDict runs op on a map object's entries in st; references taken for new entries are let go
// of if it fails, those of replaced entries once it succeeds.
func (s *managerServer) runDict(c *mconn, st dictStore, op byte, req *mreq, rep *mrep) error {
	dt := &dictTx{s: s, c: c, st: st}
	err := dt.do(op, req, rep)
	if err != nil {
		for _, e := range dt.added {
			s.dropEntry(e)
		}
		return err
	}
	for _, e := range dt.dropped {
		s.dropEntry(e)
	}
	return nil
}

// attachTable answers managerOpAttach: duplicates of the dict's table and of the death pipe's
// read end, for the reply to carry (serveOne closes them once sent). Only a connection that
// holds the object gets its table: a stale proxy cannot bring a freed dict back.
func (s *managerServer) attachTable(c *mconn, req *mreq, rep *mrep) error {
	o, err := s.object(req.Obj)
	if err != nil {
		return err
	}
	if !c.held[req.Obj] {
		return fmt.Errorf("%w: managed object %d is not held by this connection", ErrClosed, req.Obj)
	}
	if o.tab == nil || s.death == nil || c.remote {
		// N 0: no table, the client uses the socket. A remote client's connection is relayed
		// by the serving program (manager_relay_unix.go), which passes bytes, not descriptors.
		return nil
	}
	tfd, err := o.tab.Dup()
	if err != nil {
		return nil
	}
	dfd, err := sys.DupFD(s.death[0])
	if err != nil {
		sys.CloseFD(tfd)
		return nil
	}
	rep.fds = []int{tfd, dfd}
	rep.N = int64(len(rep.fds))
	return nil
}

// tableError turns an error of a table into the package's.
func tableError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, shmtable.ErrFull), errors.Is(err, shmtable.ErrInvalid):
		return fmt.Errorf("%w: a managed Dict's shared memory cannot hold it: %v (raise the limit with mp.WithDictMaxSize when starting the manager, or store big data elsewhere, a file or an mp.SharedMemory, and its name in the dict)", ErrTooLarge, err)
	case errors.Is(err, shmtable.ErrCorrupt):
		return fmt.Errorf("%w: a managed Dict's shared memory is corrupt (a process wrote into it other than through mp): %v", ErrProtocol, err)
	case errors.Is(err, shmtable.ErrClosed):
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return err
}

// WithDictMaxSize sets how many bytes of shared memory each Dict of the manager may take, keys,
// values and bookkeeping together (default 1 GiB, at most 1 TiB, at least 64 KiB): a write that
// would need more fails with ErrTooLarge. It is reserved address space in every process that
// uses the dict (on Linux, where dicts live in shared memory), not memory: memory is taken as
// the dict grows.
func WithDictMaxSize(n int64) ManagerOption {
	return managerOptionFunc(func(c *managerConfig) error {
		if n < 64<<10 || n > shmtable.MaxMaxSize {
			return fmt.Errorf("%w: WithDictMaxSize(%d): between 64 KiB and 1 TiB", ErrInvalidOption, n)
		}
		c.tableMax = n
		return nil
	})
}

// dictTx is one operation on a map object's entries: what it added (references taken, to let go
// of if it fails) and dropped (to let go of once it succeeds).
type dictTx struct {
	s       *managerServer
	c       *mconn
	st      dictStore
	added   []*mentry
	dropped []*mentry
}

// store sets key to val, taking references to the objects val holds.
func (dt *dictTx) store(key, val []byte, rep *mrep) error {
	e, err := dt.s.newEntry(val)
	if err != nil {
		return err
	}
	dt.added = append(dt.added, e)
	old, err := dt.st.put(key, e)
	if err != nil {
		return err
	}
	if old != nil {
		dt.dropped = append(dt.dropped, old)
	}
	rep.Rev = e.rev
	return nil
}

func (dt *dictTx) do(op byte, req *mreq, rep *mrep) error {
	s, c, st := dt.s, dt.c, dt.st
	switch op {
	case managerOpGet:
		e, err := st.get(req.Key)
		if err != nil || e == nil {
			return err
		}
		s.attach(c, e)
		rep.Val, rep.Rev, rep.OK = e.val, e.rev, true
	case managerOpSet:
		return dt.store(req.Key, req.Val, rep)
	case managerOpCAS:
		e, err := st.get(req.Key)
		if err != nil {
			return err
		}
		if e == nil && req.Rev != 0 || e != nil && e.rev != req.Rev {
			if e != nil {
				rep.Rev = e.rev
			}
			return nil
		}
		rep.OK = true
		return dt.store(req.Key, req.Val, rep)
	case managerOpDelete:
		old, err := st.del(req.Key)
		if err != nil || old == nil {
			return err
		}
		dt.dropped = append(dt.dropped, old)
		rep.OK = true
	case managerOpLen:
		rep.N = int64(st.size())
	case managerOpKeys, managerOpItems:
		rep.Keys = make([][]byte, 0, st.size())
		return st.each(func(k []byte, e *mentry) {
			rep.Keys = append(rep.Keys, k)
			if op == managerOpItems {
				s.attach(c, e)
				rep.Vals = append(rep.Vals, e.val)
				rep.Revs = append(rep.Revs, e.rev)
			}
		})
	case managerOpClear:
		held, err := st.clear()
		if err != nil {
			return err
		}
		dt.dropped = append(dt.dropped, held...)
	case managerOpGetMany:
		rep.Vals = make([][]byte, len(req.Keys))
		rep.Revs = make([]uint64, len(req.Keys))
		if ts, ok := st.(*tableStore); ok {
			return ts.getMany(s, c, req.Keys, rep)
		}
		for i, k := range req.Keys {
			e, err := st.get(k)
			if err != nil {
				return err
			}
			if e != nil {
				s.attach(c, e)
				rep.Vals[i], rep.Revs[i] = e.val, e.rev
			}
		}
	case managerOpSetMany:
		if len(req.Keys) != len(req.Vals) {
			return fmt.Errorf("%w: SetMany of %d keys and %d values", ErrProtocol, len(req.Keys), len(req.Vals))
		}
		if ts, ok := st.(*tableStore); ok {
			if done, err := ts.setManyPlain(req.Keys, req.Vals); done || err != nil {
				return err
			}
		}
		entries := make([]*mentry, len(req.Vals)) // every value checked before any is stored
		for i, v := range req.Vals {
			e, err := s.newEntry(v)
			if err != nil {
				return err
			}
			dt.added = append(dt.added, e)
			entries[i] = e
		}
		for i, k := range req.Keys {
			old, err := st.put(k, entries[i])
			if err != nil {
				return err
			}
			if old != nil {
				dt.dropped = append(dt.dropped, old)
			}
		}
	case managerOpUpdate:
		uf, ok := lookupUpdate(req.Name)
		if !ok {
			return fmt.Errorf("%w: update function %q (register it with mp.RegisterUpdate at package level)", ErrNotRegistered, req.Name)
		}
		e, err := st.get(req.Key)
		if err != nil {
			return err
		}
		var cur []byte
		if e != nil {
			cur = e.val
		}
		val, err := applyUpdate(uf, req.Name, cur, e != nil, req.Val)
		if err != nil {
			return err
		}
		if err := dt.store(req.Key, val, rep); err != nil {
			return err
		}
		rep.Val = val
		s.attach(c, dt.added[len(dt.added)-1])
	case managerOpAdd:
		e, err := st.get(req.Key)
		if err != nil {
			return err
		}
		var cur []byte
		if e != nil {
			cur = e.val
		}
		val, err := addNumbers(cur, req.Val, req.Name, int(req.N))
		if err != nil {
			return err
		}
		rep.Val = val
		return dt.store(req.Key, val, rep)
	default:
		return fmt.Errorf("%w: operation %d on a managed dict", ErrProtocol, op)
	}
	return nil
}
