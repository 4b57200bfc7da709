package mp

// Fuzz targets for what a network connection reads from its peer: the frames of an
// authenticated connection (FuzzNetRecv), and the auth key's handshake on either side
// (FuzzHandshake). Both run over memStream, a stream of the fuzzer's bytes, so that every run is
// bounded by its input. Seeds are in testdata/fuzz.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

// memStream is a Stream that reads in and keeps what is written; its deadlines do nothing, and
// its reads come in pieces of at most chunk bytes (0: as much as asked).
type memStream struct {
	in    []byte
	out   []byte
	read  int
	chunk int
}

func (m *memStream) Read(p []byte) (int, error) {
	if len(m.in) == 0 {
		return 0, io.EOF
	}
	if m.chunk > 0 && len(p) > m.chunk {
		p = p[:m.chunk]
	}
	n := copy(p, m.in)
	m.in = m.in[n:]
	m.read += n
	return n, nil
}

func (m *memStream) Write(p []byte) (int, error)      { m.out = append(m.out, p...); return len(p), nil }
func (m *memStream) Close() error                     { return nil }
func (m *memStream) SetReadDeadline(time.Time) error  { return nil }
func (m *memStream) SetWriteDeadline(time.Time) error { return nil }

func frame(b string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }

func FuzzNetRecv(f *testing.F) {
	f.Add(append(frame("hello"), frame("")...), uint16(100), uint8(0))
	f.Add(append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 3}, "abc"...), uint16(10), uint8(1))
	f.Add([]byte{0x80, 0, 0, 1}, uint16(10), uint8(0))
	f.Add(append(frame("too long for the limit"), frame("ok")...), uint16(5), uint8(3))
	f.Add([]byte{0, 0, 0, 9, 'x'}, uint16(100), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16, chunk uint8) {
		lim := defaultConnLimits()
		lim.maxMessage = int(limit) + 1
		s := &memStream{in: data, chunk: int(chunk)}
		n := newNetConn(s, "fuzz", lim)
		n.authenticated()
		got := 0
		for range len(data) + 1 {
			b, err := n.recv(context.Background())
			if err == nil {
				if len(b) > lim.maxMessage {
					t.Fatalf("a message of %d bytes passed a limit of %d", len(b), lim.maxMessage)
				}
				got += len(b)
				continue
			}
			if errors.Is(err, ErrTooLarge) && errors.Is(err, ErrDecode) {
				continue // and the Conn goes on
			}
			if err != io.EOF && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrClosed) {
				t.Fatalf("Recv: %v, want io.EOF, ErrTooLarge, ErrProtocol or ErrClosed", err)
			}
			break
		}
		if got > len(data) {
			t.Fatalf("%d bytes of messages out of %d bytes in", got, len(data))
		}
	})
}

func FuzzHandshake(f *testing.F) {
	challenge := "#CHALLENGE#{sha256}" + string(make([]byte, 40))
	f.Add([]byte{}, false, false)
	f.Add(frame(challenge), false, false)
	f.Add(append(frame(challenge), frame("#WELCOME#")...), false, false)
	f.Add(append(frame(challenge), frame("#WELCOME#")...), false, true)
	f.Add(frame("#CHALLENGE#"+string(make([]byte, 20))), false, true)
	f.Add(frame("{sha256}"+string(make([]byte, 32))), true, false)
	f.Add(frame(string(make([]byte, 16))), true, true)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true, false)
	f.Add(binary.BigEndian.AppendUint32(nil, 0x7fffffff), false, false)
	f.Fuzz(func(t *testing.T, data []byte, server, legacy bool) {
		s := &memStream{in: data}
		cfg := &connConfig{limits: defaultConnLimits(), authKey: []byte("fuzz key"), legacyAuth: legacy, handshakeTimeout: time.Minute}
		n := newNetConn(s, "fuzz", cfg.limits)
		err := n.handshake(context.Background(), cfg, server)
		if err == nil {
			// The peer would have had to answer a random challenge of this side's.
			t.Fatalf("a handshake passed on the fuzzer's bytes")
		}
		if !errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrProtocol) {
			t.Fatalf("handshake: %v, want ErrAuthentication or ErrProtocol", err)
		}
		if s.read > 4*preAuthBuffer {
			t.Fatalf("the handshake read %d bytes of its peer's", s.read)
		}
		if cap(n.buf) > preAuthBuffer {
			t.Fatalf("the read-ahead buffer grew to %d bytes before authentication", cap(n.buf))
		}
	})
}
