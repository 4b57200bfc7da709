// Package wire is the framing and the message set of the control channel between a parent and a
// child process started by mp.
//
// A frame is an 8-byte header — the payload length as a little-endian uint32, one type byte and
// three reserved zero bytes — followed by the payload, a CBOR-encoded message. The first frame from
// the parent is a Task, which carries the protocol version; the child answers Ready (carrying the
// version it speaks) before it runs user code, and Result when the function returns.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Version is the control protocol version. A child that receives a Task of another version
// refuses it in its Ready frame.
const Version = 1

// Frame types.
const (
	TypeTask   byte = 1 // parent → child: what to run
	TypeReady  byte = 2 // child → parent: handshake answer, sent before user code runs
	TypeResult byte = 3 // child → parent: the function's result or error
	TypeCancel byte = 4 // parent → child: cancel the running function's context
)

// HeaderSize is the size of a frame header in bytes.
const HeaderSize = 8

// DefaultMaxFrame is the largest payload a reader accepts unless told otherwise.
const DefaultMaxFrame = 1 << 30

// ErrFrameTooLarge reports a frame whose announced length exceeds the reader's limit.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// Task tells a child what to run and who it is.
type Task struct {
	Version    int    `cbor:"1,keyasint"`
	Func       string `cbor:"2,keyasint"`
	Arg        []byte `cbor:"3,keyasint"`
	Name       string `cbor:"4,keyasint"`
	Ident      string `cbor:"5,keyasint"`
	Daemon     bool   `cbor:"6,keyasint"`
	ParentName string `cbor:"7,keyasint"`
	ParentPid  int    `cbor:"8,keyasint"`
}

// Ready is the child's handshake answer. Err is set when the child cannot run the task (an
// unregistered function, an argument it cannot decode, a version it does not speak); the child
// exits after sending it.
type Ready struct {
	Version int    `cbor:"1,keyasint"`
	Pid     int    `cbor:"2,keyasint"`
	Err     *Error `cbor:"3,keyasint,omitempty"`
}

// Result carries the function's encoded result, or its error.
type Result struct {
	Value []byte `cbor:"1,keyasint,omitempty"`
	Err   *Error `cbor:"2,keyasint,omitempty"`
}

// Error is an error flattened for the wire. Codes name the registered sentinels the error matched
// (errors.Is) in the child, so that the parent can rebuild an error that matches the same ones.
type Error struct {
	Message string   `cbor:"1,keyasint"`
	Type    string   `cbor:"2,keyasint,omitempty"`
	Codes   []string `cbor:"3,keyasint,omitempty"`
	Errno   int      `cbor:"4,keyasint,omitempty"`
	Panic   bool     `cbor:"5,keyasint,omitempty"`
	Stack   string   `cbor:"6,keyasint,omitempty"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  16,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 10,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes a control message.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes a control message.
func Unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }

// WriteFrame writes one frame. It is not safe for concurrent use on the same writer.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	if uint64(len(payload)) > 0xFFFFFFFF {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	buf := make([]byte, HeaderSize+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)))
	buf[4] = typ
	copy(buf[HeaderSize:], payload)
	_, err := w.Write(buf)
	return err
}

// WriteMessage encodes v and writes it as one frame of type typ.
func WriteMessage(w io.Writer, typ byte, v any) error {
	b, err := Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(w, typ, b)
}

// ReadFrame reads one frame whose payload is at most max bytes. It returns io.EOF only when the
// stream ends cleanly between frames, and io.ErrUnexpectedEOF when it ends inside one.
func ReadFrame(r io.Reader, max int) (typ byte, payload []byte, err error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[:])
	if uint64(n) > uint64(max) {
		return 0, nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrFrameTooLarge, n, max)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return h[4], payload, nil
}
