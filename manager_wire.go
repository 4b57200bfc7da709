package mp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/mp-go/mp/internal/wire"
)

// The manager's protocol. After the hello (managerHello), both directions carry frames:
//
//	u32 length of what follows | u64 request id | u8 op | payload (CBOR: mreq or mrep)
//
// A request's reply carries the request's id, so that many goroutines of one process share one
// connection and a reply that comes after its caller gave up (its ctx ended) is recognised and
// dropped. Id 0 is a request that wants no reply (release, hold) or, from the server, a notice
// (managerOpClosed). Payloads are data, decoded with the package's codec and its limits.

// managerMaxFrame bounds one frame; a bigger one announced by a header is a protocol error,
// refused before it is read.
const managerMaxFrame = 64 << 20

// managerHelloMagic opens the hello: 8 bytes of magic and version, then the 32-byte token.
const managerHelloMagic = "mpmgr\x00\x00\x01"

const managerHelloSize = len(managerHelloMagic) + managerTokenSize

// managerTokenSize is the length of a manager's secret token.
const managerTokenSize = 32

// managerWelcome is the server's answer to a good hello.
const managerWelcome = "mpmgr-ok"

// Operations.
const (
	managerOpPing     = 1 + iota // nothing: the server serves
	managerOpStats               // → N objects, Rev connections
	managerOpShutdown            // drain, notify every connection, exit
	managerOpCreate              // Kind → N object id
	managerOpRelease             // Obj: this connection lets go of it (no reply)
	managerOpHold                // Obj: this connection holds it (no reply)
	managerOpGet                 // Obj Key → Val Rev OK
	managerOpSet                 // Obj Key Val → Rev
	managerOpCAS                 // Obj Key Rev Val → Rev OK
	managerOpDelete              // Obj Key → OK
	managerOpLen                 // Obj → N
	managerOpKeys                // Obj → Keys
	managerOpItems               // Obj → Keys Vals
	managerOpClear               // Obj
	managerOpGetMany             // Obj Keys → Vals Revs (Revs[i] == 0: absent)
	managerOpSetMany             // Obj Keys Vals
	managerOpUpdate              // Obj Key Name Val(arg) → Val Rev
	managerOpAdd                 // Obj Key Val(delta) Name(kind) → Val Rev
	managerOpAppend              // Obj Vals → N (new length)
	managerOpIndex               // Obj N → Val
	managerOpSetIndex            // Obj N Val
	managerOpPop                 // Obj → Val
	managerOpSlice               // Obj → Vals
	managerOpCount               // one past the last
	managerOpClosed   = 0xff     // notice from the server: it is shutting down
)

// mreq is a request's payload; each op uses the fields its comment names.
type mreq struct {
	_    struct{} `cbor:",toarray"`
	Obj  uint64
	Key  []byte
	Val  []byte
	Rev  uint64
	N    int64
	Name string
	Keys [][]byte
	Vals [][]byte
}

// mrep is a reply's payload.
type mrep struct {
	_    struct{} `cbor:",toarray"`
	Err  *wire.Error
	Val  []byte
	Rev  uint64
	OK   bool
	N    int64
	Keys [][]byte
	Vals [][]byte
	Revs []uint64
}

// managerTransport is how a client talks to a server: frames out, frames in. The socket
// transport below is the only one for now; a shared-memory ring for local clients can replace
// it behind this interface.
type managerTransport interface {
	// send writes one frame. Safe for concurrent use.
	send(id uint64, op byte, payload []byte) error
	// recv reads the next frame; one goroutine calls it. The payload is the caller's.
	recv() (id uint64, op byte, payload []byte, err error)
	// close ends the connection; a recv waiting returns an error.
	close() error
}

// sockTransport is a managerTransport over a connected stream socket.
type sockTransport struct {
	f  *os.File
	br *bufio.Reader
	wm sync.Mutex
	wb []byte
}

func newSockTransport(f *os.File) *sockTransport {
	return &sockTransport{f: f, br: bufio.NewReaderSize(f, 64<<10)}
}

func (t *sockTransport) send(id uint64, op byte, payload []byte) error {
	t.wm.Lock()
	defer t.wm.Unlock()
	b := t.wb[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(9+len(payload)))
	b = binary.LittleEndian.AppendUint64(b, id)
	b = append(b, op)
	b = append(b, payload...)
	_, err := t.f.Write(b)
	if cap(b) <= 64<<10 {
		t.wb = b
	}
	return err
}

func (t *sockTransport) recv() (uint64, byte, []byte, error) {
	return readManagerFrame(t.br)
}

func (t *sockTransport) close() error { return t.f.Close() }

// readManagerFrame reads one frame from r. A header announcing more than managerMaxFrame, or
// less than its own id and op, is an ErrProtocol error, raised before the body is read.
func readManagerFrame(r io.Reader) (uint64, byte, []byte, error) {
	var h [13]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n < 9 || n > managerMaxFrame {
		return 0, 0, nil, fmt.Errorf("%w: manager frame of %d bytes (at most %d)", ErrProtocol, n, managerMaxFrame)
	}
	payload := make([]byte, n-9)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, err
	}
	return binary.LittleEndian.Uint64(h[4:12]), h[12], payload, nil
}

// encodeMreq and the others encode and decode payloads with the package's codec.
func encodeManagerMsg(v any) ([]byte, error) {
	b, err := codecEnc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: manager message: %v", ErrEncode, err)
	}
	return b, nil
}

func decodeMreq(b []byte) (mreq, error) {
	var r mreq
	err := decodeValue("manager request", b, &r)
	return r, err
}

func decodeMrep(b []byte) (mrep, error) {
	var r mrep
	err := decodeValue("manager reply", b, &r)
	return r, err
}

// errPeerRefused is a connection the manager refused; it keeps accepting.
type errPeerRefused struct{ error }

func (e errPeerRefused) Unwrap() error { return e.error }
