//go:build linux || darwin

package mp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// Fuzz targets for the manager's decoders: the frames and requests a client sends to the server
// (FuzzManagerServer), and the replies and proxies a client decodes (FuzzManagerReply).

func managerFrame(id uint64, op byte, req any) []byte {
	p, err := encodeManagerMsg(req)
	if err != nil {
		panic(err)
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(9+len(p)))
	b = binary.LittleEndian.AppendUint64(b, id)
	return append(append(b, op), p...)
}

// checkManagerRefs checks the server's reference counts: each object is held exactly by the
// connections holding it and the entries referring to it, and nothing refers to a freed object.
func checkManagerRefs(t *testing.T, s *managerServer, conns ...*mconn) {
	t.Helper()
	want := map[uint64]int{}
	for _, c := range conns {
		for id := range c.held {
			want[id]++
		}
	}
	for _, o := range s.objs {
		for _, e := range o.dict {
			for _, id := range e.refs {
				want[id]++
			}
		}
		for _, e := range o.list {
			for _, id := range e.refs {
				want[id]++
			}
		}
		if y := o.syn; y != nil {
			for _, id := range y.refs {
				want[id]++
			}
			for _, e := range y.items {
				for _, id := range e.refs {
					want[id]++
				}
			}
			for _, w := range y.putters {
				for _, id := range w.item.refs {
					want[id]++
				}
			}
		}
		for _, refs := range o.trefs {
			for _, id := range refs {
				want[id]++
			}
		}
	}
	for id, o := range s.objs {
		if o.refs != want[id] || o.refs <= 0 {
			t.Fatalf("object %d has %d references, want %d", id, o.refs, want[id])
		}
	}
	for id := range want {
		if s.objs[id] == nil {
			t.Fatalf("object %d is referred to but freed", id)
		}
	}
}

func FuzzManagerServer(f *testing.F) {
	token := bytes.Repeat([]byte{7}, managerTokenSize)
	ref := func(id uint64) []byte {
		p := &proxyBase{c: &managerClient{addr: "@fuzz", token: token}, id: id, kind: "dict"}
		b, _ := p.marshal("mp.Dict")
		return b
	}
	val, _ := codecEnc.Marshal([]any{1, "x"})
	key, _ := codecEnc.Marshal("k")
	one, _ := codecEnc.Marshal(1)
	nine, _ := codecEnc.Marshal(9)
	fuzzToken = token
	seed := [][]byte{
		managerFrame(1, managerOpCreate, &mreq{Name: "dict"}),
		managerFrame(2, managerOpSet, &mreq{Obj: 1, Key: key, Val: val}),
		managerFrame(3, managerOpCreate, &mreq{Name: "list"}),
		managerFrame(4, managerOpAppend, &mreq{Obj: 2, Vals: [][]byte{ref(1), val}}),
		managerFrame(5, managerOpSet, &mreq{Obj: 1, Key: key, Val: ref(2)}),
		managerFrame(0, managerOpRelease, &mreq{Obj: 1}),
		managerFrame(0, managerOpHold, &mreq{Objs: []uint64{1, 2, 1, 9}}),
		managerFrame(6, managerOpPop, &mreq{Obj: 2}),
		managerFrame(7, managerOpAdd, &mreq{Obj: 1, Key: key, Val: val, Name: "int", N: 64}),
		managerFrame(8, managerOpSetMany, &mreq{Obj: 1, Keys: [][]byte{key}, Vals: [][]byte{ref(1), ref(2)}}),
		managerFrame(9, managerOpUpdate, &mreq{Obj: 1, Key: key, Name: "nope"}),
		// The synchronisation objects (manager_sync_server.go): waiters, grants, cancels.
		managerFrame(10, managerOpCreate, &mreq{Name: queueKind, N: 1}),
		managerFrame(11, managerOpQPut, &mreq{Obj: 3, Val: ref(1)}),
		managerFrame(12, managerOpQPut, &mreq{Obj: 3, Val: ref(2)}),
		managerFrame(13, managerOpQGet, &mreq{Obj: 3}),
		managerFrame(0, managerOpCancel, &mreq{Rev: 12}),
		managerFrame(14, managerOpCreate, &mreq{Name: mutexKind}),
		managerFrame(15, managerOpLock, &mreq{Obj: 4}),
		managerFrame(16, managerOpLock, &mreq{Obj: 4}),
		managerFrame(17, managerOpCreate, &mreq{Name: condKind, Obj: 4}),
		managerFrame(18, managerOpCondWait, &mreq{Obj: 5}),
		managerFrame(19, managerOpCondNotify, &mreq{Obj: 5, N: -1}),
		managerFrame(20, managerOpUnlock, &mreq{Obj: 4}),
		managerFrame(21, managerOpCreate, &mreq{Name: semaphoreKind, N: 1}),
		managerFrame(22, managerOpAcquire, &mreq{Obj: 6, N: 2}),
		managerFrame(23, managerOpSemRelease, &mreq{Obj: 6, N: 1}),
		managerFrame(24, managerOpCreate, &mreq{Name: barrierKind, N: 2}),
		managerFrame(25, managerOpBarrierWait, &mreq{Obj: 7}),
		managerFrame(0, managerOpCancel, &mreq{Rev: 25}),
		managerFrame(26, managerOpCreate, &mreq{Name: jqueueKind}),
		managerFrame(27, managerOpQPut, &mreq{Obj: 8, Val: val}),
		managerFrame(28, managerOpQJoin, &mreq{Obj: 8}),
		managerFrame(29, managerOpQGet, &mreq{Obj: 8}),
		managerFrame(30, managerOpQTaskDone, &mreq{Obj: 8}),
		managerFrame(31, managerOpCreate, &mreq{Name: eventKind}),
		managerFrame(32, managerOpEventWait, &mreq{Obj: 9}),
		managerFrame(33, managerOpEventSet, &mreq{Obj: 9}),
		managerFrame(34, managerOpQShutdown, &mreq{Obj: 3}),
		// Custom objects (manager_object_server.go): made, called, refused, and a result that
		// holds proxies (of objects alive, freed, never made, and of another manager).
		managerFrame(35, managerOpObjNew, &mreq{Name: "mp.test.fuzz_counter", Val: key}),
		managerFrame(36, managerOpObjCall, &mreq{Obj: 10, Name: "Incr", Val: one}),
		managerFrame(37, managerOpObjCall, &mreq{Obj: 10, Name: "Secret", Val: one}),
		managerFrame(38, managerOpObjCall, &mreq{Obj: 10, Name: "Ref", Val: one}),
		managerFrame(39, managerOpObjCall, &mreq{Obj: 10, Name: "Ref", Val: nine}),
		managerFrame(40, managerOpObjCall, &mreq{Obj: 10, Name: "Panic", Val: one}),
		managerFrame(41, managerOpObjCall, &mreq{Obj: 1, Name: "Incr", Val: one}),
		managerFrame(42, managerOpObjNew, &mreq{Name: "dict"}),
		managerFrame(43, managerOpObjNew, &mreq{Name: "mp.test.fuzz_counter", Val: val}),
		managerFrame(0, managerOpRelease, &mreq{Obj: 10}),
		managerFrame(44, managerOpObjCall, &mreq{Obj: 10, Name: "Incr", Val: one}),
		{0xff, 0xff, 0xff, 0xff, 1, 2, 3},
	}
	var all []byte
	for _, s := range seed {
		f.Add(s)
		all = append(all, s...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newManagerServer(token, "@fuzz", 0)
		c := &mconn{held: map[uint64]bool{}}
		tr := &sockTransport{r: bytes.NewReader(data), buf: make([]byte, 0, 64<<10)}
		for {
			id, op, payload, err := tr.recv()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrProtocol) {
					t.Fatalf("recv: %v", err)
				}
				break
			}
			req, err := decodeMreq(payload)
			if err != nil {
				if !errors.Is(err, ErrDecode) {
					t.Fatalf("decodeMreq: %v, not ErrDecode", err)
				}
				break
			}
			c.sy.cur = id
			s.handle(c, op, &req)
			checkManagerRefs(t, s, c)
		}
		// The connection ends: everything it held goes, and what is left is held by nothing.
		s.mu.Lock()
		s.syncConnGone(c)
		s.mu.Unlock()
		for id := range c.held {
			s.decref(id)
		}
		c.held = nil
		checkManagerRefs(t, s)
		s.closeTables()
	})
}

func FuzzManagerReply(f *testing.F) {
	token := bytes.Repeat([]byte{7}, managerTokenSize)
	p := &proxyBase{c: &managerClient{addr: "@fuzz", token: token}, id: 3, kind: "dict"}
	good, _ := p.marshal("mp.Dict")
	rep, _ := encodeManagerMsg(&mrep{Val: good, Rev: 2, OK: true, Keys: [][]byte{{1}}, Vals: [][]byte{good}})
	f.Add(good)
	f.Add(rep)
	f.Add([]byte{0xd9, 0x6d, 0x71, 0x84})
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := decodeMrep(data); err != nil && !errors.Is(err, ErrDecode) {
			t.Fatalf("decodeMrep: %v, not ErrDecode", err)
		}
		pb, err := unmarshalProxy("mp.Dict", "dict", data)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("unmarshalProxy: %v, not ErrDecode", err)
			}
			return
		}
		pb.close() // nothing connected: a decoded proxy opens no connection until it is used
		if pb.c.t != nil {
			t.Fatal("decoding a proxy opened a connection")
		}
	})
}

// closeTables closes every table and the death pipe, for a server that will serve no more
// (tests; the manager process simply exits).
func (s *managerServer) closeTables() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.objs {
		if o.tab != nil {
			o.tab.Close()
		}
	}
	if s.death != nil {
		closeFDs(s.death[:])
		s.death = nil
	}
}

// fuzzCounter is a custom managed type for FuzzManagerServer: Ref returns a proxy, of the fuzzed
// manager, to the object whose id it is given (odd ids: of another manager).
type fuzzCounter struct{ n int }

var fuzzToken []byte

var (
	fuzzCounterType = RegisterManagedType("mp.test.fuzz_counter", func(ctx context.Context, m *Manager, name string) (*fuzzCounter, error) {
		return &fuzzCounter{}, nil
	})
	_ = Expose(fuzzCounterType, "Incr", func(c *fuzzCounter, ctx context.Context, d int) (int, error) {
		c.n += d
		return c.n, nil
	})
	_ = Expose(fuzzCounterType, "Ref", func(c *fuzzCounter, ctx context.Context, id uint64) (*Dict[string, int], error) {
		tok := fuzzToken
		if id%2 == 1 && id > 1 {
			tok = bytes.Repeat([]byte{8}, managerTokenSize)
		}
		return &Dict[string, int]{p: &proxyBase{c: &managerClient{addr: "@fuzz", token: tok}, id: id, kind: "dict"}}, nil
	})
	_ = Expose(fuzzCounterType, "Panic", func(c *fuzzCounter, ctx context.Context, _ int) (int, error) {
		panic("fuzz")
	})
)
