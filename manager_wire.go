package mp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

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

// managerRemoteHelloMagic opens the hello of a connection that Manager.Serve relays from a
// remote client: the server refuses it what only the owner may do (Shutdown).
const managerRemoteHelloMagic = "mpmgr\x00\x01\x01"

// managerTokenSize is the length of a manager's secret token.
const managerTokenSize = 32

// managerWelcome is the server's answer to a good hello.
const managerWelcome = "mpmgr-ok"

// Operations.
const (
	managerOpPing     = 1 + iota // nothing: the server serves
	managerOpStats               // → N objects, Rev connections, Revs [operations served]
	managerOpShutdown            // drain, notify every connection, exit
	managerOpCreate              // Kind → N object id
	managerOpRelease             // Obj: this connection lets go of it (no reply)
	managerOpHold                // Objs: this connection holds them (no reply)
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
	// Remote managers (manager_remote.go).
	managerOpPublish        // Name Val(an encoded proxy): publish the object under the name
	managerOpLookup         // Name → Val (the encoded proxy published under the name)
	managerOpAttach         // Obj → N descriptors: the dict's table and the manager's death pipe (manager_table.go)
	managerOpClosed  = 0xff // notice from the server: it is shutting down
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
	Objs []uint64
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

	fds []int // descriptors sent with the reply (not encoded: they travel by SCM_RIGHTS)
}

// managerTransport is how a client talks to a server: frames out, frames in. The socket
// transport below is the only one for now; a shared-memory ring for local clients can replace
// it behind this interface.
type managerTransport interface {
	// send writes one frame. Safe for concurrent use.
	send(id uint64, op byte, payload []byte) error
	// recv reads the next frame; one goroutine at a time calls it. The payload is the caller's.
	// A recv cut short by interrupt returns errInterrupted and loses nothing: the next recv
	// goes on where it stopped.
	recv() (id uint64, op byte, payload []byte, err error)
	// interrupt makes a recv waiting, or the next one, return errInterrupted, until resume.
	interrupt()
	resume()
	// close ends the connection; a recv waiting returns an error.
	close() error
	// takeFDs returns the n descriptors that arrived with the frame recv last returned (an
	// attach reply's); a transport that cannot carry descriptors returns an error.
	takeFDs(n int) ([]int, error)
}

// errInterrupted is the error of a recv cut short by interrupt.
var errInterrupted = errors.New("mp: manager transport: receive interrupted")

// sockTransport is a managerTransport over a connected stream: a non-blocking socket of the
// manager's own (*os.File), or, for a remote manager (manager_remote.go), any Stream — a TCP
// socket, a *tls.Conn — whose deadlines interrupt a Read and lose nothing.
type sockTransport struct {
	f   Stream
	r   io.Reader // f, or in a fuzz test the bytes given
	buf []byte    // received, not yet returned: buf[off:]
	off int
	wm  sync.Mutex
	wb  []byte
	fdr fdTaker // the client's side: r reads with recvmsg and keeps the descriptors (nil: none)
}

// fdTaker holds the descriptors a recvmsg reader received (fdpass.Reader).
type fdTaker interface {
	Take(n int) ([]int, error)
	Close()
}

func (t *sockTransport) takeFDs(n int) ([]int, error) {
	if t.fdr == nil {
		return nil, fmt.Errorf("%w: this manager connection carries no descriptors", ErrProtocol)
	}
	fds, err := t.fdr.Take(n)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return fds, nil
}

func newSockTransport(f Stream) *sockTransport {
	return &sockTransport{f: f, r: f, buf: make([]byte, 0, 64<<10)}
}

func (t *sockTransport) send(id uint64, op byte, payload []byte) error {
	return t.sendFDs(id, op, payload, nil)
}

// sendFDs writes one frame with fds attached to its first byte (see managerWriteFDs).
func (t *sockTransport) sendFDs(id uint64, op byte, payload []byte, fds []int) error {
	t.wm.Lock()
	defer t.wm.Unlock()
	b := t.wb[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(9+len(payload)))
	b = binary.LittleEndian.AppendUint64(b, id)
	b = append(b, op)
	b = append(b, payload...)
	var err error
	if len(fds) > 0 {
		f, ok := t.f.(*os.File)
		if !ok {
			return fmt.Errorf("%w: descriptors on a manager connection that is not a local socket", ErrProtocol)
		}
		err = managerWriteFDs(f, b, fds)
	} else {
		_, err = t.f.Write(b)
	}
	if cap(b) <= 64<<10 {
		t.wb = b
	}
	return err
}

// recv returns the next frame from the buffer, reading more as needed. A header announcing
// more than managerMaxFrame is an ErrProtocol error, raised before the body is read.
func (t *sockTransport) recv() (uint64, byte, []byte, error) {
	for {
		avail := t.buf[t.off:]
		if len(avail) >= 13 {
			n := binary.LittleEndian.Uint32(avail[:4])
			if n < 9 || n > managerMaxFrame {
				return 0, 0, nil, fmt.Errorf("%w: manager frame of %d bytes (at most %d)", ErrProtocol, n, managerMaxFrame)
			}
			if total := 4 + int(n); len(avail) >= total {
				payload := append([]byte(nil), avail[13:total]...)
				id, op := binary.LittleEndian.Uint64(avail[4:12]), avail[12]
				t.off += total
				if t.off == len(t.buf) {
					t.buf, t.off = t.buf[:0], 0
				}
				return id, op, payload, nil
			} else if total > cap(t.buf)-t.off {
				// Make room for the whole frame (its size was checked above).
				nb := make([]byte, len(avail), max(total, 64<<10))
				copy(nb, avail)
				t.buf, t.off = nb, 0
			}
		}
		if t.off > 0 && len(t.buf) == cap(t.buf) {
			n := copy(t.buf, t.buf[t.off:])
			t.buf, t.off = t.buf[:n], 0
		}
		n, err := t.r.Read(t.buf[len(t.buf):cap(t.buf)])
		t.buf = t.buf[:len(t.buf)+n]
		if n > 0 {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, 0, nil, errInterrupted
		}
		if err == nil || err == io.EOF && len(t.buf) > t.off {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, err
	}
}

func (t *sockTransport) interrupt() { t.f.SetReadDeadline(time.Unix(1, 0)) }

func (t *sockTransport) resume() { t.f.SetReadDeadline(time.Time{}) }

func (t *sockTransport) close() error {
	err := t.f.Close()
	if t.fdr != nil {
		t.fdr.Close() // the descriptors received and not taken
	}
	return err
}

// encodeMreq and the others encode and decode payloads with the package's codec.
func encodeManagerMsg(v any) ([]byte, error) {
	if b, ok := encodeMsgFast(v); ok { // manager_fastwire.go
		return b, nil
	}
	b, err := codecEnc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: manager message: %v", ErrEncode, err)
	}
	return b, nil
}

func decodeMreq(b []byte) (mreq, error) {
	if r, ok := decodeMreqFast(b); ok {
		return r, nil
	}
	var r mreq
	err := decodeValue("manager request", b, &r)
	return r, err
}

func decodeMrep(b []byte) (mrep, error) {
	if r, ok := decodeMrepFast(b); ok {
		return r, nil
	}
	var r mrep
	err := decodeValue("manager reply", b, &r)
	return r, err
}

// errPeerRefused is a connection the manager refused; it keeps accepting.
type errPeerRefused struct{ error }

func (e errPeerRefused) Unwrap() error { return e.error }
