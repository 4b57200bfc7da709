package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	for _, b := range [][]byte{{}, {0xff}, {0x05, 1, 2}, {0, 2}, {0, 0, 0}, bytes.Repeat([]byte{0x81}, 100)} {
		if err := Unmarshal(b, &r); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal(%x) = %v; want ErrMalformed", b, err)
		}
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	we := &Error{Message: "sold out", Type: "*errors.errorString", Codes: []string{"a.b", "c"}, Errno: 2, Panic: true, Stack: "goroutine 1"}
	for _, tc := range []struct{ in, out Message }{
		{&Ready{Version: 1, Pid: 1234}, &Ready{}},
		{&Ready{Version: 1, Pid: 1234, Err: we}, &Ready{}},
		{&Result{Value: []byte("v")}, &Result{}},
		{&Result{Err: we}, &Result{}},
		{&Task{Version: 1, Func: "f", Arg: []byte{0}, Name: "n", Ident: "1:2", Daemon: true, ParentName: "MainProcess", ParentPid: -1, Worker: true, InitFunc: "i", InitArg: []byte{9}}, &Task{}},
		{&Call{ID: 1 << 40, Func: "sq", Arg: []byte{1, 2}, Chunk: 3, Timeout: 5e9}, &Call{}},
		{&Reply{ID: 7, Value: []byte{3}, Done: 2, Err: we}, &Reply{}},
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

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	WriteMessage(&buf, TypeReady, &Ready{Version: Version, Pid: 7, Err: &Error{Message: "x", Codes: []string{"a"}}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, payload, err := ReadFrame(bytes.NewReader(data), 1<<16)
		if err != nil {
			return
		}
		_ = typ
		var r Ready
		Unmarshal(payload, &r) // must not panic
	})
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
