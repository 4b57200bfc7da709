// Package wire is the framing and the message set of the control channel between a parent and a
// child process started by mp.
//
// A frame is an 8-byte header — the payload length as a little-endian uint32, one type byte and
// three reserved zero bytes — followed by the payload, one message in a compact binary encoding
// (see Marshal). The first frame from the parent is a Task, which carries the protocol version; the
// child answers Ready (carrying the version it speaks) before it runs user code, and Result when
// the function returns. A pool worker's Task says Worker: it answers Ready once its initializer
// has run, then serves Call frames with Reply frames, in order, until it is told to Retire.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the control protocol version. A child that receives a Task of another version
// refuses it in its Ready frame.
//
// Parent and child are the same binary, so the encoding has no optional parts: a change to any
// message's encoding bumps Version (which the child's environment marker carries too, so that a
// child of another version stops before it reads a frame), and every field is always encoded.
//
// Versions: 1, the first; 2 added Error.Values and Error.Unregistered, and TypeReplyFDs (a worker
// sends frames on the control socket after its handshake); 3 added Reply.FDs and Result.FDs.
const Version = 3

// Frame types.
const (
	TypeTask   byte = 1 // parent → child: what to run
	TypeReady  byte = 2 // child → parent: handshake answer, sent before user code runs
	TypeResult byte = 3 // child → parent: the function's result or error
	TypeCancel byte = 4 // parent → child: cancel the running function's context
	TypeCall   byte = 5 // parent → worker: run one call (or one chunk of a map)
	TypeReply  byte = 6 // worker → parent: a call's result, written as soon as its function returns
	TypeAbort  byte = 7 // parent → worker: cancel call ID (payload: the ID as a uvarint)
	TypeRetire byte = 8 // parent → worker: finish the calls received, then exit
	TypeFDs    byte = 9 // parent → worker: the descriptors of call ID's handles, attached (payload: ID and count, by AppendPair)
	// TypeReplyFDs: worker → parent, on the control socket, before the Reply to call ID: the
	// descriptors of the shared memory segments its result refers to, attached (payload: ID and
	// count, by AppendPair).
	TypeReplyFDs byte = 10
)

// HeaderSize is the size of a frame header in bytes.
const HeaderSize = 8

// DefaultMaxFrame is the largest payload a reader accepts unless told otherwise.
const DefaultMaxFrame = 1 << 30

// ErrFrameTooLarge reports a frame whose announced length exceeds the reader's limit.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// Message is one of the control messages: Task, Ready, Result, Call, Reply.
type Message interface {
	appendTo(b []byte) []byte
	decode(r *reader)
}

// Task tells a child what to run and who it is.
type Task struct {
	Version    int
	Func       string
	Arg        []byte
	Name       string
	Ident      string
	Daemon     bool
	ParentName string
	ParentPid  int
	Worker     bool   // serve Call frames instead of running Func once
	InitFunc   string // a worker's initializer, run once before its first call ("" for none)
	InitArg    []byte
}

func (t *Task) appendTo(b []byte) []byte {
	b = appendInt(b, int64(t.Version))
	b = appendString(b, t.Func)
	b = appendBytes(b, t.Arg)
	b = appendString(b, t.Name)
	b = appendString(b, t.Ident)
	b = appendBool(b, t.Daemon)
	b = appendString(b, t.ParentName)
	b = appendInt(b, int64(t.ParentPid))
	b = appendBool(b, t.Worker)
	b = appendString(b, t.InitFunc)
	return appendBytes(b, t.InitArg)
}

func (t *Task) decode(r *reader) {
	t.Version = int(r.int())
	t.Func = r.string()
	t.Arg = r.bytes()
	t.Name = r.string()
	t.Ident = r.string()
	t.Daemon = r.bool()
	t.ParentName = r.string()
	t.ParentPid = int(r.int())
	t.Worker = r.bool()
	t.InitFunc = r.string()
	t.InitArg = r.bytes()
}

// Call asks a worker to run Func on Arg. With Chunk > 0, Arg holds Chunk arguments encoded as one
// slice, and the worker runs Func on each in turn, stopping at the first error. Timeout, when
// positive, bounds the call's context in the worker from the moment it starts.
type Call struct {
	ID      uint64
	Func    string
	Arg     []byte
	Chunk   int
	Timeout int64 // nanoseconds
	FDs     int   // descriptors of the argument's handles, sent ahead in a TypeFDs frame
	Slot    int   // the worker's call slot that tracks this call (see the mp package's slots.go)
}

func (m *Call) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = appendString(b, m.Func)
	b = appendBytes(b, m.Arg)
	b = appendInt(b, int64(m.Chunk))
	b = appendInt(b, m.Timeout)
	b = appendInt(b, int64(m.FDs))
	return appendInt(b, int64(m.Slot))
}

func (m *Call) decode(r *reader) {
	m.ID = r.uint()
	m.Func = r.string()
	m.Arg = r.bytes()
	m.Chunk = int(r.int())
	m.Timeout = r.int()
	m.FDs = int(r.int())
	m.Slot = int(r.int())
}

// Reply answers the Call with the same ID. For a chunk, Value holds the results of the first Done
// arguments encoded as one slice, and Err, if set, is the error of argument number Done. FDs is
// how many descriptors (of big values in shared memory) Value refers to: they travel ahead of
// the Reply, in a TypeReplyFDs frame on the control socket. The receiver goes by FDs, never by
// the look of Value, which may be raw memory.
type Reply struct {
	ID    uint64
	Value []byte
	Done  int
	FDs   int
	Err   *Error
}

func (m *Reply) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = appendBytes(b, m.Value)
	b = appendInt(b, int64(m.Done))
	b = appendInt(b, int64(m.FDs))
	return m.Err.appendTo(b)
}

func (m *Reply) decode(r *reader) {
	m.ID = r.uint()
	m.Value = r.bytes()
	m.Done = int(r.int())
	m.FDs = int(r.int())
	m.Err = decodeError(r)
}

// AppendFrame appends one frame holding m to buf, so that several frames can go out in one write.
func AppendFrame(buf []byte, typ byte, m Message) []byte {
	at := len(buf)
	return sealFrame(m.appendTo(append(buf, make([]byte, HeaderSize)...)), at, typ)
}

// AppendID appends a frame whose payload is one uvarint, as TypeAbort's.
func AppendID(buf []byte, typ byte, id uint64) []byte {
	at := len(buf)
	return sealFrame(binary.AppendUvarint(append(buf, make([]byte, HeaderSize)...), id), at, typ)
}

// AppendPair appends a frame whose payload is two uvarints, as TypeFDs's.
func AppendPair(buf []byte, typ byte, a, b uint64) []byte {
	at := len(buf)
	buf = binary.AppendUvarint(append(buf, make([]byte, HeaderSize)...), a)
	return sealFrame(binary.AppendUvarint(buf, b), at, typ)
}

// ParsePair reads the payload of a frame made by AppendPair.
func ParsePair(payload []byte) (a, b uint64, err error) {
	r := &reader{b: payload}
	a = r.uint()
	b = r.uint()
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return a, b, r.err
}

// sealFrame fills in the header of the frame that starts at buf[at].
func sealFrame(buf []byte, at int, typ byte) []byte {
	binary.LittleEndian.PutUint32(buf[at:], uint32(len(buf)-at-HeaderSize))
	buf[at+4] = typ
	return buf
}

// ParseID reads the uvarint payload of a frame made by AppendID.
func ParseID(payload []byte) (uint64, error) {
	r := &reader{b: payload}
	id := r.uint()
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return id, r.err
}

// Ready is the child's handshake answer. Err is set when the child cannot run the task (an
// unregistered function, an argument it cannot decode, a version it does not speak); the child
// exits after sending it.
type Ready struct {
	Version int
	Pid     int
	Err     *Error
}

func (m *Ready) appendTo(b []byte) []byte {
	b = appendInt(b, int64(m.Version))
	b = appendInt(b, int64(m.Pid))
	return m.Err.appendTo(b)
}

func (m *Ready) decode(r *reader) {
	m.Version = int(r.int())
	m.Pid = int(r.int())
	m.Err = decodeError(r)
}

// Result carries the function's encoded result, or its error.
type Result struct {
	Value []byte
	FDs   int // descriptors of big values in Value, sent ahead in a TypeReplyFDs frame (ID 0)
	Err   *Error
}

func (m *Result) appendTo(b []byte) []byte {
	b = appendBytes(b, m.Value)
	b = appendInt(b, int64(m.FDs))
	return m.Err.appendTo(b)
}

func (m *Result) decode(r *reader) {
	m.Value = r.bytes()
	m.FDs = int(r.int())
	m.Err = decodeError(r)
}

// Error is an error flattened for the wire. Codes name the registered sentinels the error matched
// (errors.Is) in the child, so that the parent can rebuild an error that matches the same ones.
// Values are the errors of registered types found in the error's chain, with their fields, so
// that the parent can rebuild them (errors.As); Unregistered names error types found in the chain
// that the parent could rebuild if they were registered.
type Error struct {
	Message      string
	Type         string
	Codes        []string
	Errno        int
	Panic        bool
	Stack        string
	Values       []Value  // since version 2
	Unregistered []string // since version 2
}

// Value is an error of a registered type, found in an Error's chain: the code it is registered
// under and its fields as the mp package's codec encodes them (CBOR). Problem, when not empty,
// says why the fields could not be encoded; Fields is empty then.
type Value struct {
	Code    string
	Fields  []byte
	Problem string
}

// appendTo encodes a possibly nil error: a presence byte, then the fields.
func (e *Error) appendTo(b []byte) []byte {
	if e == nil {
		return appendBool(b, false)
	}
	b = appendBool(b, true)
	b = appendString(b, e.Message)
	b = appendString(b, e.Type)
	b = appendInt(b, int64(len(e.Codes)))
	for _, c := range e.Codes {
		b = appendString(b, c)
	}
	b = appendInt(b, int64(e.Errno))
	b = appendBool(b, e.Panic)
	b = appendString(b, e.Stack)
	b = appendInt(b, int64(len(e.Values)))
	for _, v := range e.Values {
		b = appendString(b, v.Code)
		b = appendBytes(b, v.Fields)
		b = appendString(b, v.Problem)
	}
	b = appendInt(b, int64(len(e.Unregistered)))
	for _, u := range e.Unregistered {
		b = appendString(b, u)
	}
	return b
}

func decodeError(r *reader) *Error {
	if !r.bool() {
		return nil
	}
	e := &Error{Message: r.string(), Type: r.string()}
	e.Codes = r.strings("code")
	e.Errno = int(r.int())
	e.Panic = r.bool()
	e.Stack = r.string()
	n := r.int()
	if n < 0 || n > int64(len(r.b))/3 { // each value takes at least three bytes
		r.fail("bad value count")
		return e
	}
	for range n {
		e.Values = append(e.Values, Value{Code: r.string(), Fields: r.bytes(), Problem: r.string()})
	}
	e.Unregistered = r.strings("type name")
	return e
}

// strings reads a count, then that many strings; what names them in the error.
func (r *reader) strings(what string) []string {
	n := r.int()
	if n < 0 || n > int64(len(r.b)) { // each string takes at least one byte
		r.fail("bad " + what + " count")
		return nil
	}
	var out []string
	for range n {
		out = append(out, r.string())
	}
	return out
}

// Marshal encodes a control message. The encoding is a fixed sequence of varints and
// length-prefixed strings per message type: no reflection, since it runs on every child's
// start-up path.
func Marshal(m Message) ([]byte, error) { return m.appendTo(make([]byte, 0, 64)), nil }

// Unmarshal decodes a control message of the type m points to. Trailing bytes are an error.
func Unmarshal(b []byte, m Message) error {
	r := &reader{b: b}
	m.decode(r)
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return r.err
}

func appendInt(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// reader decodes with bounds checks; the first failure sticks and later reads return zeros.
type reader struct {
	b   []byte
	err error
}

// ErrMalformed reports a control message that does not decode.
var ErrMalformed = errors.New("wire: malformed message")

func (r *reader) fail(why string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, why)
	}
	r.b = nil
}

func (r *reader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad unsigned integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bool() bool {
	if len(r.b) == 0 || r.b[0] > 1 {
		r.fail("bad boolean")
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *reader) bytes() []byte {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.fail("bad length")
		return nil
	}
	v := r.b[k : k+int(n) : k+int(n)]
	r.b = r.b[k+int(n):]
	if n == 0 {
		return nil
	}
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

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

// WriteMessage encodes m and writes it as one frame of type typ.
func WriteMessage(w io.Writer, typ byte, m Message) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	return WriteFrame(w, typ, b)
}

// ReadFrame reads one frame whose payload is at most max bytes. It returns io.EOF only when the
// stream ends cleanly between frames, and io.ErrUnexpectedEOF when it ends inside one. The
// payload's buffer grows as its bytes arrive, so a header announcing a large frame costs nothing
// until the frame's bytes come: ReadFrame never holds more than firstChunk bytes, or growth times
// the bytes received, whatever a header says.
func ReadFrame(r io.Reader, max int) (typ byte, payload []byte, err error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[:])
	if uint64(n) > uint64(max) {
		return 0, nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrFrameTooLarge, n, max)
	}
	size := int(n)
	payload = make([]byte, 0, min(size, firstChunk))
	for len(payload) < size {
		if len(payload) == cap(payload) {
			payload = append(make([]byte, 0, min(size, growth*cap(payload))), payload...)
		}
		k, err := io.ReadFull(r, payload[len(payload):cap(payload)])
		payload = payload[:len(payload)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
	}
	return h[4], payload, nil
}

// A frame's buffer starts at firstChunk bytes at most and grows by growth times when full, so
// that the memory a reader holds is bounded by the bytes that arrived, not by what a header says.
const (
	firstChunk = 64 << 10
	growth     = 4
)

// FrameReader reads frames from r into a buffer of its own. Unlike ReadFrame, a read that fails
// part-way — a deadline set to interrupt it — loses nothing: the next call to Next resumes where
// it stopped. The payload Next returns is valid until the following call.
type FrameReader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int
}

// NewFrameReader returns a FrameReader on r accepting payloads of at most max bytes.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	return &FrameReader{r: r, max: max, buf: make([]byte, firstChunk)}
}

// Next returns the next frame. Errors are those of ReadFrame, plus any error of the underlying
// reader, after which Next may be called again. As with ReadFrame, the buffer grows with the bytes
// that arrive (by growth times at most), never to the size a header announces before its bytes
// are there.
func (f *FrameReader) Next() (typ byte, payload []byte, err error) {
	for {
		n := f.end - f.start
		if n >= HeaderSize {
			size := binary.LittleEndian.Uint32(f.buf[f.start:])
			if uint64(size) > uint64(f.max) {
				return 0, nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrFrameTooLarge, size, f.max)
			}
			if total := HeaderSize + int(size); n >= total {
				frame := f.buf[f.start : f.start+total]
				f.start += total
				return frame[4], frame[HeaderSize:], nil
			}
		} else if n == 0 {
			f.start, f.end = 0, 0
		}
		if f.end == len(f.buf) {
			// No room to read into: move what we have to the front or, when the buffer holds
			// only the frame so far, grow it.
			if f.start > 0 {
				copy(f.buf, f.buf[f.start:f.end])
				f.start, f.end = 0, n
			} else {
				total := HeaderSize + int(binary.LittleEndian.Uint32(f.buf))
				nb := make([]byte, min(total, growth*len(f.buf)))
				copy(nb, f.buf[:f.end])
				f.buf = nb
			}
		}
		k, err := f.r.Read(f.buf[f.end:])
		f.end += k
		if err != nil && k == 0 {
			if err == io.EOF && f.end != f.start {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
	}
}

// Remote is an error as mp.MarshalError encodes it for another process of the same binary (a
// cluster's agent sending a task's error to the head): where it came from, what kind of error it
// was, and the error itself. It is not a control-channel frame: its encoding does not follow
// Version, and starts with a format byte of its own (RemoteFormat).
type Remote struct {
	Format int    // RemoteFormat
	Kind   int    // RemoteProcess, RemotePanic or RemoteExit
	Name   string // the process the error came from
	Pid    int
	Err    *Error
}

// RemoteFormat is the format of a Remote's encoding.
const RemoteFormat = 1

// Kinds of Remote errors.
const (
	RemoteProcess = 0 // an error a function returned (rebuilt as a *mp.ProcessError)
	RemotePanic   = 1 // a panic (rebuilt as a *mp.PanicError)
)

func (m *Remote) appendTo(b []byte) []byte {
	b = appendInt(b, int64(m.Format))
	b = appendInt(b, int64(m.Kind))
	b = appendString(b, m.Name)
	b = appendInt(b, int64(m.Pid))
	return m.Err.appendTo(b)
}

func (m *Remote) decode(r *reader) {
	m.Format = int(r.int())
	if r.err == nil && m.Format != RemoteFormat {
		r.fail(fmt.Sprintf("error encoding format %d, this binary reads format %d", m.Format, RemoteFormat))
		return
	}
	m.Kind = int(r.int())
	m.Name = r.string()
	m.Pid = int(r.int())
	m.Err = decodeError(r)
	if r.err == nil && m.Err == nil {
		r.fail("no error")
	}
}
