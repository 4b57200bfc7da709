package mp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// TestFrameHeader: the header is CPython's: 4 bytes up to 0x7fffffff, −1 and 8 bytes above.
func TestFrameHeader(t *testing.T) {
	for _, tc := range []struct {
		size int
		want []byte
	}{
		{0, []byte{0, 0, 0, 0}},
		{5, []byte{0, 0, 0, 5}},
		{0x7fffffff, []byte{0x7f, 0xff, 0xff, 0xff}},
		{0x80000000, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0}},
		{1<<32 - 1, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
	} {
		got := appendFrameHeader(nil, tc.size)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("header of %d = % x, want % x", tc.size, got, tc.want)
		}
		size, hdr, err := parseFrameHeader(got)
		if err != nil || size != int64(tc.size) || hdr != len(got) {
			t.Errorf("parse(% x) = %d, %d, %v", got, size, hdr, err)
		}
		if _, hdr, err := parseFrameHeader(got[:len(got)-1]); hdr != 0 || err != nil {
			t.Errorf("parse of a partial header = %d, %v; want 0, nil", hdr, err)
		}
	}
	if _, _, err := parseFrameHeader([]byte{0xff, 0xff, 0xff, 0xfe}); err == nil {
		t.Error("a length of -2 parsed")
	}
}

// TestNetConnLongFrame: a message in the long form arrives, in pieces of a byte, as one in the
// short form does, and the end of the stream between messages is io.EOF.
func TestNetConnLongFrame(t *testing.T) {
	in := append(appendFrameHeader(nil, 0x80000000)[:4], 0, 0, 0, 0, 0, 0, 0, 5)
	in = append(in, "hello"...)
	in = append(in, 0, 0, 0, 2, 'o', 'k')
	n := newNetConn(&memStream{in: in, chunk: 1}, "test", defaultConnLimits())
	n.authenticated()
	for _, want := range []string{"hello", "ok"} {
		b, err := n.recv(context.Background())
		if err != nil || string(b) != want {
			t.Fatalf("recv = %q, %v; want %q", b, err, want)
		}
	}
	if _, err := n.recv(context.Background()); err != io.EOF {
		t.Fatalf("recv at the end = %v, want io.EOF", err)
	}
}

// TestHandshakeAnswer: the answer to a challenge is "{sha256}" and the HMAC-SHA256 of the
// challenge, digest name included, as CPython's _create_response makes it; verify accepts it
// and refuses a wrong key.
func TestHandshakeAnswer(t *testing.T) {
	key := []byte("k")
	m := append([]byte("{sha256}"), bytes.Repeat([]byte{7}, 40)...)
	r, err := response(key, m, false)
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, key)
	h.Write(m)
	if want := append([]byte("{sha256}"), h.Sum(nil)...); !bytes.Equal(r, want) {
		t.Fatalf("response = %q, want %q", r, want)
	}
	if err := verify(key, m, r, false); err != nil {
		t.Fatalf("verify of the right answer: %v", err)
	}
	if err := verify([]byte("other"), m, r, false); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("verify with another key: %v", err)
	}
	for _, name := range []string{"sha384", "sha3_256", "sha3_384"} {
		m := append([]byte("{"+name+"}"), bytes.Repeat([]byte{7}, 40)...)
		r, err := response(key, m, false)
		if err != nil || verify(key, m, r, false) != nil {
			t.Fatalf("%s: response %q, %v", name, r, err)
		}
	}
}
