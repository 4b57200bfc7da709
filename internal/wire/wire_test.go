package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
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
	for _, b := range [][]byte{{0xff}, {0x9f, 0x9f, 0x9f}, bytes.Repeat([]byte{0x81}, 100)} {
		if err := Unmarshal(b, &r); err == nil {
			t.Errorf("Unmarshal(%x) = nil; want an error", b)
		}
	}
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
