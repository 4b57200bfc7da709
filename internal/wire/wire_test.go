package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := &Task{Version: Version, Func: "f", Arg: []byte{1, 2, 3}, Name: "Process-1", Ident: "1", ParentPid: 42}
	if err := WriteMessage(&buf, TypeTask, in); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&buf, TypeCancel, nil); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := ReadFrame(&buf, DefaultMaxFrame)
	if err != nil || typ != TypeTask {
		t.Fatalf("ReadFrame = %d, %v", typ, err)
	}
	var out Task
	if err := Unmarshal(payload, &out); err != nil {
		t.Fatal(err)
	}
	if out.Func != "f" || !bytes.Equal(out.Arg, in.Arg) || out.ParentPid != 42 || out.Name != "Process-1" {
		t.Fatalf("decoded %+v", out)
	}
	if typ, payload, err := ReadFrame(&buf, DefaultMaxFrame); err != nil || typ != TypeCancel || len(payload) != 0 {
		t.Fatalf("empty frame: %d %d %v", typ, len(payload), err)
	}
	if _, _, err := ReadFrame(&buf, DefaultMaxFrame); err != io.EOF {
		t.Fatalf("at end: %v; want io.EOF", err)
	}
}

func TestFrameLimits(t *testing.T) {
	// A header announcing more than the limit is refused before anything is allocated.
	var h [HeaderSize]byte
	binary.LittleEndian.PutUint32(h[:], 0xFFFFFFF0)
	h[4] = TypeResult
	if _, _, err := ReadFrame(bytes.NewReader(h[:]), 1<<20); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized frame: %v; want ErrFrameTooLarge", err)
	}
	// A frame cut short is an unexpected EOF, not a clean end.
	var buf bytes.Buffer
	WriteFrame(&buf, TypeResult, []byte("hello"))
	cut := buf.Bytes()[:buf.Len()-2]
	if _, _, err := ReadFrame(bytes.NewReader(cut), DefaultMaxFrame); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated frame: %v; want io.ErrUnexpectedEOF", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader(cut[:3]), DefaultMaxFrame); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated header: %v; want io.ErrUnexpectedEOF", err)
	}
}

func TestUnmarshalRejectsGarbage(t *testing.T) {
	var r Result
	for _, b := range [][]byte{{}, {0xff}, {0x05, 1, 2}, {0, 2}, {0, 0}, {0, 0, 0, 0}, bytes.Repeat([]byte{0x81}, 100)} {
		if err := Unmarshal(b, &r); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal(%x) = %v; want ErrMalformed", b, err)
		}
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	we := &Error{Message: "sold out", Type: "*errors.errorString", Codes: []string{"a.b", "c"}, Errno: 2, Panic: true, Stack: "goroutine 1",
		Values: []Value{{Code: "shop.out_of_stock", Fields: []byte{0xa1, 0x61, 0x4e, 0x02}}, {Code: "shop.bad", Problem: "cannot encode"}}, Unregistered: []string{"*shop.Other"}}
	for _, tc := range []struct{ in, out Message }{
		{&Ready{Version: 1, Pid: 1234}, &Ready{}},
		{&Ready{Version: 1, Pid: 1234, Err: we}, &Ready{}},
		{&Result{Value: []byte("v"), FDs: 2}, &Result{}},
		{&Result{Err: we}, &Result{}},
		{&Task{Version: 1, Func: "f", Arg: []byte{0}, Name: "n", Ident: "1:2", Daemon: true, ParentName: "MainProcess", ParentPid: -1, Worker: true, InitFunc: "i", InitArg: []byte{9}}, &Task{}},
		{&Call{ID: 1 << 40, Func: "sq", Arg: []byte{1, 2}, Chunk: 3, Timeout: 5e9}, &Call{}},
		{&Reply{ID: 7, Value: []byte{3}, Done: 2, FDs: 1, Err: we}, &Reply{}},
	} {
		b, err := Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := Unmarshal(b, tc.out); err != nil {
			t.Fatalf("Unmarshal(%T) = %v", tc.in, err)
		}
		if fmt.Sprintf("%+v", deref(tc.in)) != fmt.Sprintf("%+v", deref(tc.out)) {
			t.Errorf("round trip: %+v != %+v", deref(tc.in), deref(tc.out))
		}
		// Every strict prefix is malformed: nothing is read past the end.
		for i := range len(b) {
			if err := Unmarshal(b[:i], tc.out); err == nil {
				t.Errorf("%T: prefix of %d/%d bytes decoded", tc.in, i, len(b))
			}
		}
	}
}

func deref(m Message) any {
	switch m := m.(type) {
	case *Ready:
		return fmt.Sprintf("%d %d %+v", m.Version, m.Pid, m.Err)
	case *Result:
		return fmt.Sprintf("%q %+v", m.Value, m.Err)
	case *Task:
		return *m
	case *Call:
		return *m
	case *Reply:
		return fmt.Sprintf("%d %q %d %+v", m.ID, m.Value, m.Done, m.Err)
	}
	return nil
}

// FuzzReadFrame reads hostile streams with ReadFrame and FrameReader (the latter through a
// reader that hands over one byte at a time and fails every other call) and decodes every frame
// as each message type. Both readers must agree, fail only with the errors they document, and
// decoding must fail only with ErrMalformed.
func FuzzReadFrame(f *testing.F) {
	for _, seed := range frameSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 16
		fr := NewFrameReader(&slowReader{data: data}, max)
		r := bytes.NewReader(data)
		for {
			typ, payload, err := ReadFrame(r, max)
			var typ2 byte
			var payload2 []byte
			var err2 error
			for {
				typ2, payload2, err2 = fr.Next()
				if err2 != errInterrupted {
					break
				}
			}
			if (err == nil) != (err2 == nil) || typ != typ2 || !bytes.Equal(payload, payload2) {
				t.Fatalf("ReadFrame = %d, %d bytes, %v; FrameReader = %d, %d bytes, %v", typ, len(payload), err, typ2, len(payload2), err2)
			}
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("ReadFrame: %v (%T); want io.EOF, io.ErrUnexpectedEOF or ErrFrameTooLarge", err, err)
				}
				if !errors.Is(err2, err) && !(errors.Is(err, ErrFrameTooLarge) && errors.Is(err2, ErrFrameTooLarge)) {
					t.Fatalf("ReadFrame: %v; FrameReader: %v", err, err2)
				}
				return
			}
			checkDecode(t, typ, payload)
		}
	})
}

// FuzzUnmarshal decodes hostile payloads as each control message. A payload that decodes must
// encode again to a payload that decodes to the same message.
func FuzzUnmarshal(f *testing.F) {
	for _, seed := range frameSeeds() {
		if len(seed) >= HeaderSize {
			f.Add(seed[4], seed[HeaderSize:])
		}
	}
	f.Fuzz(func(t *testing.T, typ byte, payload []byte) { checkDecode(t, typ, payload) })
}

// checkDecode decodes payload as every message type.
func checkDecode(t *testing.T, typ byte, payload []byte) {
	t.Helper()
	for _, m := range []Message{&Task{}, &Ready{}, &Result{}, &Call{}, &Reply{}} {
		err := Unmarshal(payload, m)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unmarshal(%T): %v; want ErrMalformed", m, err)
			}
			continue
		}
		again, _ := Marshal(m)
		m2 := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		if err := Unmarshal(again, m2); err != nil || fmt.Sprintf("%+v", deref(m)) != fmt.Sprintf("%+v", deref(m2)) {
			t.Fatalf("%T: re-encoded message decodes to %+v, %v; want %+v", m, deref(m2), err, deref(m))
		}
		if len(again) > len(payload)+16 {
			t.Fatalf("%T: %d bytes decoded into a message of %d bytes", m, len(payload), len(again))
		}
	}
	for _, err := range []error{
		func() error { _, err := ParseID(payload); return err }(),
		func() error { _, _, err := ParsePair(payload); return err }(),
	} {
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseID/ParsePair: %v; want ErrMalformed", err)
		}
	}
}

// frameSeeds are streams of valid frames, and a few broken ones.
func frameSeeds() [][]byte {
	we := &Error{Message: "sold out", Type: "*errors.errorString", Codes: []string{"a.b", "c"}, Errno: 2, Panic: true, Stack: "goroutine 1",
		Values: []Value{{Code: "shop.out_of_stock", Fields: []byte{0xa1, 0x61, 0x4e, 0x02}}, {Code: "shop.bad", Problem: "cannot encode"}}, Unregistered: []string{"*shop.Other"}}
	one := func(typ byte, m Message) []byte { return AppendFrame(nil, typ, m) }
	return [][]byte{
		one(TypeTask, &Task{Version: Version, Func: "f", Arg: []byte{1, 2, 3}, Name: "Process-1", Ident: "1", ParentPid: 42, Worker: true, InitFunc: "i", InitArg: []byte{4}}),
		one(TypeReady, &Ready{Version: Version, Pid: 7}),
		one(TypeReady, &Ready{Version: Version, Pid: 7, Err: we}),
		one(TypeResult, &Result{Value: []byte("v")}),
		one(TypeResult, &Result{Err: we}),
		one(TypeCall, &Call{ID: 1 << 40, Func: "sq", Arg: []byte{1, 2}, Chunk: 3, Timeout: 5e9, FDs: 2}),
		one(TypeReply, &Reply{ID: 7, Value: []byte{3}, Done: 2, Err: we}),
		AppendID(nil, TypeAbort, 3),
		AppendPair(nil, TypeFDs, 3, 2),
		AppendFrame(AppendFrame(nil, TypeCall, &Call{ID: 1, Func: "f"}), TypeRetire, &Result{}),
		{0xff, 0xff, 0xff, 0xff, TypeResult, 0, 0, 0},   // announces 4 GiB
		{0xff, 0xff, 0x00, 0x00, TypeReply, 0, 0, 0, 1}, // announces 64 KiB, sends 1 byte
		{5, 0, 0, 0, TypeReady},                         // a header cut short
	}
}

func TestAppendFrame(t *testing.T) {
	var buf []byte
	buf = AppendFrame(buf, TypeCall, &Call{ID: 3, Func: "f"})
	buf = AppendID(buf, TypeAbort, 3)
	r := bytes.NewReader(buf)
	typ, p, err := ReadFrame(r, DefaultMaxFrame)
	var c Call
	if err != nil || typ != TypeCall || Unmarshal(p, &c) != nil || c.ID != 3 || c.Func != "f" {
		t.Fatalf("call frame: %d %v %+v", typ, err, c)
	}
	typ, p, err = ReadFrame(r, DefaultMaxFrame)
	if id, perr := ParseID(p); err != nil || typ != TypeAbort || perr != nil || id != 3 {
		t.Fatalf("abort frame: %d %v %d %v", typ, err, id, perr)
	}
}

// slowReader returns at most one byte per call, and an error every other call.
type slowReader struct {
	data []byte
	n    int
}

var errInterrupted = errors.New("interrupted")

func (r *slowReader) Read(b []byte) (int, error) {
	r.n++
	if r.n%2 == 0 {
		return 0, errInterrupted
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	b[0] = r.data[0]
	r.data = r.data[1:]
	return 1, nil
}

func TestFrameReaderResumes(t *testing.T) {
	var buf []byte
	big := bytes.Repeat([]byte("x"), 100<<10)
	buf = AppendFrame(buf, TypeReply, &Reply{ID: 1, Value: []byte("a")})
	buf = AppendFrame(buf, TypeReply, &Reply{ID: 2, Value: big})
	buf = AppendFrame(buf, TypeReply, &Reply{ID: 3})
	fr := NewFrameReader(&slowReader{data: buf}, DefaultMaxFrame)
	var got []uint64
	interrupts := 0
	for {
		typ, p, err := fr.Next()
		if err == errInterrupted {
			interrupts++
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil || typ != TypeReply {
			t.Fatalf("Next = %d, %v", typ, err)
		}
		var r Reply
		if err := Unmarshal(p, &r); err != nil {
			t.Fatal(err)
		}
		if r.ID == 2 && !bytes.Equal(r.Value, big) {
			t.Fatal("big payload corrupted across interruptions")
		}
		got = append(got, r.ID)
	}
	if fmt.Sprint(got) != "[1 2 3]" || interrupts == 0 {
		t.Fatalf("frames %v, %d interruptions", got, interrupts)
	}
	if _, _, err := NewFrameReader(bytes.NewReader(buf[:5]), DefaultMaxFrame).Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut frame: %v", err)
	}
}

// TestFrameAllocationFollowsBytes: a header announcing the largest frame a reader takes, followed
// by a few bytes and the end of the stream, must not make either reader allocate what it
// announces. The stream is a real pipe.
func TestFrameAllocationFollowsBytes(t *testing.T) {
	readers := map[string]func(r io.Reader) error{
		"ReadFrame": func(r io.Reader) error { _, _, err := ReadFrame(r, DefaultMaxFrame); return err },
		"FrameReader": func(r io.Reader) error {
			_, _, err := NewFrameReader(r, DefaultMaxFrame).Next()
			return err
		},
	}
	for name, read := range readers {
		t.Run(name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var h [HeaderSize]byte
			binary.LittleEndian.PutUint32(h[:], DefaultMaxFrame)
			h[4] = TypeResult
			w.Write(append(h[:], "a few bytes"...))
			w.Close()
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			err = read(r)
			runtime.ReadMemStats(&m1)
			if err != io.ErrUnexpectedEOF {
				t.Errorf("a frame cut short: %v; want io.ErrUnexpectedEOF", err)
			}
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 1<<20 {
				t.Fatalf("a header announcing %d bytes, then 11 bytes: %d bytes allocated", DefaultMaxFrame, alloc)
			}
		})
	}
}

// TestFramesOfEverySize sends frames of sizes around the readers' buffer steps through a pipe
// and checks that both readers return them whole.
func TestFramesOfEverySize(t *testing.T) {
	sizes := []int{0, 1, firstChunk - HeaderSize - 1, firstChunk - HeaderSize, firstChunk, firstChunk + 1, growth*firstChunk + 7, 3<<20 + 5}
	var stream []byte
	for i, n := range sizes {
		stream = append(stream, byte(n), byte(n>>8), byte(n>>16), byte(n>>24), TypeResult, 0, 0, 0)
		stream = append(stream, bytes.Repeat([]byte{byte(i + 1)}, n)...)
	}
	for _, useFR := range []bool{false, true} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			w.Write(stream)
			w.Close()
		}()
		fr := NewFrameReader(r, DefaultMaxFrame)
		for i, n := range sizes {
			var p []byte
			if useFR {
				_, p, err = fr.Next()
			} else {
				_, p, err = ReadFrame(r, DefaultMaxFrame)
			}
			if err != nil || !bytes.Equal(p, bytes.Repeat([]byte{byte(i + 1)}, n)) {
				t.Fatalf("FrameReader %v: frame %d of %d bytes: %d bytes, %v", useFR, i, n, len(p), err)
			}
		}
		r.Close()
	}
}
