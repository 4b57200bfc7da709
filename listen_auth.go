package mp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"os"
)

// The handshake of an auth key is CPython's (3.12 and later; Lib/multiprocessing/connection.py,
// deliver_challenge and answer_challenge), byte for byte:
//
//   - the side that delivers a challenge sends "#CHALLENGE#{sha256}" and 40 random bytes;
//   - the other answers "{sha256}" and the HMAC-SHA256, under the key, of everything after
//     "#CHALLENGE#" (the digest's name included);
//   - the first answers "#WELCOME#" if the digest is right, "#FAILURE#" if not.
//
// The listener challenges first, then answers the client's challenge. Each message is framed as
// any other and read with a limit of maxHandshakeMessage bytes (CPython's recv_bytes(256)).
//
// Python 3.11 and older challenge with 20 random bytes and no digest name, and answer with the
// bare 16-byte HMAC-MD5: mp answers and accepts that only under WithLegacyAuth.

var (
	challengePrefix = []byte("#CHALLENGE#")
	welcome         = []byte("#WELCOME#")
	failureMsg      = []byte("#FAILURE#")
)

const (
	challengeRandom     = 40  // CPython's MESSAGE_LENGTH
	legacyChallenge     = 20  // the random bytes of Python 3.11's challenge
	legacyDigest        = 16  // an HMAC-MD5
	maxHandshakeMessage = 256 // what CPython reads of a handshake message
	maxDigestName       = 8   // the longest digest name CPython allows ("sha3_384")
)

// digests are the HMAC digests CPython allows, by the name in its "{name}" prefix.
var digests = map[string]func() hash.Hash{
	"md5":      md5.New,
	"sha256":   sha256.New,
	"sha384":   sha512.New384,
	"sha3_256": func() hash.Hash { return sha3.New256() },
	"sha3_384": func() hash.Hash { return sha3.New384() },
}

// splitDigest returns the digest name and payload of a challenge or an answer: "" for the
// legacy forms (a bare 20-byte challenge, a bare 16-byte answer), as CPython's
// _get_digest_name_and_payload does.
func splitDigest(m []byte) (name string, payload []byte, err error) {
	if len(m) == legacyChallenge || len(m) == legacyDigest {
		return "", m, nil
	}
	if len(m) > 0 && m[0] == '{' {
		if end := bytes.IndexByte(m[1:min(len(m), maxDigestName+2)], '}'); end > 0 {
			name := string(m[1 : 1+end])
			if digests[name] != nil {
				return name, m[2+end:], nil
			}
		}
	}
	return "", nil, fmt.Errorf("%w: the peer's handshake message (%d bytes) has no {digest} prefix that mp knows, and is not of a legacy length", ErrAuthentication, len(m))
}

func mac(name string, key, m []byte) []byte {
	h := hmac.New(digests[name], key)
	h.Write(m)
	return h.Sum(nil)
}

// response answers challenge m (what follows "#CHALLENGE#"), as CPython's _create_response.
func response(key, m []byte, legacy bool) ([]byte, error) {
	name, _, err := splitDigest(m)
	if err != nil {
		return nil, err
	}
	if name == "" {
		if !legacy {
			return nil, fmt.Errorf("%w: the peer challenged with the HMAC-MD5 scheme of Python 3.11 and older; mp.WithLegacyAuth accepts it", ErrAuthentication)
		}
		return mac("md5", key, m), nil
	}
	return append([]byte("{"+name+"}"), mac(name, key, m)...), nil
}

// verify checks answer r to challenge m, as CPython's _verify_challenge.
func verify(key, m, r []byte, legacy bool) error {
	name, got, err := splitDigest(r)
	if err != nil {
		return err
	}
	if name == "" || name == "md5" {
		if !legacy {
			return fmt.Errorf("%w: the peer answered with HMAC-MD5, as Python 3.11 and older do; mp.WithLegacyAuth accepts it", ErrAuthentication)
		}
		name = "md5"
	}
	want := mac(name, key, m)
	if len(got) != len(want) {
		return fmt.Errorf("%w: the peer's %s digest is %d bytes long, not %d", ErrAuthentication, name, len(got), len(want))
	}
	if !hmac.Equal(got, want) {
		return fmt.Errorf("%w: the peer's digest is wrong: its auth key is not this side's", ErrAuthentication)
	}
	return nil
}

// deliverChallenge challenges the peer to prove it has key: CPython's deliver_challenge.
func (n *netConn) deliverChallenge(ctx context.Context, key []byte, legacy bool) error {
	m := make([]byte, 0, len("{sha256}")+challengeRandom)
	m = append(m, "{sha256}"...)
	m = m[:cap(m)]
	rand.Read(m[len("{sha256}"):])
	if err := n.write(ctx, append(append([]byte(nil), challengePrefix...), m...)); err != nil {
		return err
	}
	r, err := n.next(ctx, maxHandshakeMessage)
	if err != nil {
		return err
	}
	if err := verify(key, m, r, legacy); err != nil {
		n.write(ctx, failureMsg)
		return err
	}
	return n.write(ctx, welcome)
}

// answerChallenge answers the peer's challenge with key: CPython's answer_challenge.
func (n *netConn) answerChallenge(ctx context.Context, key []byte, legacy bool) error {
	m, err := n.next(ctx, maxHandshakeMessage)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(m, challengePrefix) {
		return fmt.Errorf("%w: the peer sent %d bytes where its challenge was expected (does it have no auth key? give the same mp.WithAuthKey to both sides)", ErrAuthentication, len(m))
	}
	m = m[len(challengePrefix):]
	if len(m) < legacyChallenge {
		return fmt.Errorf("%w: the peer's challenge is too short: %d bytes", ErrAuthentication, len(m))
	}
	r, err := response(key, m, legacy)
	if err != nil {
		return err
	}
	if err := n.write(ctx, r); err != nil {
		return err
	}
	v, err := n.next(ctx, maxHandshakeMessage)
	if err != nil {
		return err
	}
	if !bytes.Equal(v, welcome) {
		return fmt.Errorf("%w: the peer refused this side's digest (its auth key is not this side's)", ErrAuthentication)
	}
	return nil
}

// handshake authenticates n's peer, and n to its peer, with cfg's key; without one it does
// nothing but a TLS stream's handshake. ctx and cfg's handshake timeout bound it. The listener
// (server) challenges first.
func (n *netConn) handshake(ctx context.Context, cfg *connConfig, server bool) error {
	hctx, cancel := context.WithTimeout(ctx, cfg.handshakeTimeout)
	defer cancel()
	if h, ok := n.s.(interface{ HandshakeContext(context.Context) error }); ok {
		// A *tls.Conn: its handshake comes first, within the same time.
		if err := h.HandshakeContext(hctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: the TLS handshake failed: %w", ErrAuthentication, err)
		}
	}
	if cfg.authKey == nil {
		n.keyless = !server
		n.authenticated()
		return nil
	}
	n.rmu.Lock()
	defer n.rmu.Unlock()
	n.arm(hctx)
	defer n.disarm()
	var err error
	if server {
		if err = n.deliverChallenge(hctx, cfg.authKey, cfg.legacyAuth); err == nil {
			err = n.answerChallenge(hctx, cfg.authKey, cfg.legacyAuth)
		}
	} else {
		if err = n.answerChallenge(hctx, cfg.authKey, cfg.legacyAuth); err == nil {
			err = n.deliverChallenge(hctx, cfg.authKey, cfg.legacyAuth)
		}
	}
	switch {
	case err == nil:
		n.authenticated()
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: the handshake did not end within %v (is the peer silent, or without the auth key? mp.WithHandshakeTimeout sets the time): %w", ErrAuthentication, cfg.handshakeTimeout, context.DeadlineExceeded)
	case errors.Is(err, ErrAuthentication):
		return err
	}
	return fmt.Errorf("%w: the handshake failed: %w", ErrAuthentication, err)
}
