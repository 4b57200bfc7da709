package mp

import (
	"math"
	"reflect"
	"unicode/utf8"
)

// The manager's messages (mreq, mrep) by hand: the same CBOR arrays the codec writes and reads
// for them, without reflection, and with the byte strings of a decoded message pointing into
// the frame rather than copied one by one. A GetMany or SetMany of many keys is one frame each
// way; with the codec, each key and value cost an allocation and a walk through reflection at
// both ends, so a batch of 100 cost several round trips' time; by hand it costs little more than
// one (BenchmarkManagerDictBatch).
//
// encodeMsgFast writes exactly the codec's bytes (manager_fastwire_internal_test.go checks it),
// so either end may be a program without it. decodeMreqFast and decodeMrepFast read the plain
// encodings the codec and encodeMsgFast write; anything else — an error in a reply, an
// indefinite length, a non-UTF-8 name — is left to the codec, which decides as before. They keep
// the codec's limits: no array longer than DefaultMaxElements, nothing built beyond a few words
// per byte received.
//
// If a field is added to mreq or mrep, fastWireOK turns this off until the functions below learn
// it (TestManagerFastWire fails meanwhile).

// fastWireOK says the field lists below are those of mreq and mrep.
var fastWireOK = fieldNames(reflect.TypeFor[mreq]()) == "Obj Key Val Rev N Name Keys Vals Objs" &&
	fieldNames(reflect.TypeFor[mrep]()) == "Err Val Rev OK N Keys Vals Revs"

// fieldNames lists a struct's encoded fields (exported, not "_").
func fieldNames(t reflect.Type) string {
	var s string
	for f := range t.Fields() {
		if !f.IsExported() || f.Name == "_" {
			continue
		}
		if s != "" {
			s += " "
		}
		s += f.Name
	}
	return s
}

// encodeMsgFast encodes a *mreq, or a *mrep without an error; false: use the codec.
func encodeMsgFast(v any) ([]byte, bool) {
	if !fastWireOK {
		return nil, false
	}
	switch m := v.(type) {
	case *mreq:
		n := 64 + len(m.Key) + len(m.Val) + len(m.Name) + bytesSize(m.Keys) + bytesSize(m.Vals) + 9*len(m.Objs)
		b := append(make([]byte, 0, n), 0x80|9)
		b = appendHead(b, 0, m.Obj)
		b = appendBytes(b, m.Key)
		b = appendBytes(b, m.Val)
		b = appendHead(b, 0, m.Rev)
		b = appendInt(b, m.N)
		b = append(appendHead(b, 3, uint64(len(m.Name))), m.Name...)
		b = appendBytesList(b, m.Keys)
		b = appendBytesList(b, m.Vals)
		return appendUints(b, m.Objs), true
	case *mrep:
		if m.Err != nil {
			return nil, false
		}
		n := 64 + len(m.Val) + bytesSize(m.Keys) + bytesSize(m.Vals) + 9*len(m.Revs)
		b := append(make([]byte, 0, n), 0x80|8, 0xf6)
		b = appendBytes(b, m.Val)
		b = appendHead(b, 0, m.Rev)
		b, _ = appendBasic(b, m.OK)
		b = appendInt(b, m.N)
		b = appendBytesList(b, m.Keys)
		b = appendBytesList(b, m.Vals)
		return appendUints(b, m.Revs), true
	}
	return nil, false
}

func bytesSize(bs [][]byte) int {
	n := 9
	for _, b := range bs {
		n += 9 + len(b)
	}
	return n
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 0xf6)
	}
	return append(appendHead(dst, 2, uint64(len(b))), b...)
}

func appendBytesList(dst []byte, bs [][]byte) []byte {
	if bs == nil {
		return append(dst, 0xf6)
	}
	dst = appendHead(dst, 4, uint64(len(bs)))
	for _, b := range bs {
		dst = appendBytes(dst, b)
	}
	return dst
}

func appendUints(dst []byte, xs []uint64) []byte {
	if xs == nil {
		return append(dst, 0xf6)
	}
	dst = appendHead(dst, 4, uint64(len(xs)))
	for _, x := range xs {
		dst = appendHead(dst, 0, x)
	}
	return dst
}

// msgReader reads a message's fields in order; the first thing it cannot read plainly sets bad.
type msgReader struct {
	b   []byte
	bad bool
}

func (r *msgReader) head() (major byte, n uint64) {
	major, n, size, ok := readHead(r.b)
	if !ok || r.bad {
		r.bad = true
		return 0, 0
	}
	r.b = r.b[size:]
	return major, n
}

func (r *msgReader) null() bool {
	if !r.bad && len(r.b) > 0 && r.b[0] == 0xf6 {
		r.b = r.b[1:]
		return true
	}
	return false
}

func (r *msgReader) uint() uint64 {
	major, n := r.head()
	if major != 0 {
		r.bad = true
		return 0
	}
	return n
}

func (r *msgReader) int() int64 {
	major, n := r.head()
	if n > math.MaxInt64 || major > 1 {
		r.bad = true
		return 0
	}
	if major == 1 {
		return -1 - int64(n)
	}
	return int64(n)
}

func (r *msgReader) bool() bool {
	if !r.bad && len(r.b) > 0 && (r.b[0] == 0xf4 || r.b[0] == 0xf5) {
		v := r.b[0] == 0xf5
		r.b = r.b[1:]
		return v
	}
	r.bad = true
	return false
}

// bytes returns a byte string of the message, in place (its capacity capped at its length).
func (r *msgReader) bytes() []byte {
	if r.null() {
		return nil
	}
	major, n := r.head()
	if major != 2 || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *msgReader) string() string {
	major, n := r.head()
	if major != 3 || n > uint64(len(r.b)) || !utf8.Valid(r.b[:n]) {
		r.bad = true
		return ""
	}
	v := string(r.b[:n])
	r.b = r.b[n:]
	return v
}

// count reads an array's head: its length, at most one element per byte left and at most the
// codec's limit.
func (r *msgReader) count() int {
	major, n := r.head()
	if major != 4 || n > uint64(len(r.b)) || n > DefaultMaxElements {
		r.bad = true
		return 0
	}
	return int(n)
}

func (r *msgReader) bytesList() [][]byte {
	if r.null() {
		return nil
	}
	n := r.count()
	if r.bad {
		return nil
	}
	bs := make([][]byte, n)
	for i := range bs {
		if bs[i] = r.bytes(); r.bad {
			return nil
		}
	}
	return bs
}

func (r *msgReader) uints() []uint64 {
	if r.null() {
		return nil
	}
	n := r.count()
	if r.bad {
		return nil
	}
	xs := make([]uint64, n)
	for i := range xs {
		if xs[i] = r.uint(); r.bad {
			return nil
		}
	}
	return xs
}

// decodeMreqFast decodes a request the plain way; false: ask the codec.
func decodeMreqFast(b []byte) (m mreq, ok bool) {
	if !fastWireOK || len(b) == 0 || b[0] != 0x80|9 {
		return m, false
	}
	r := &msgReader{b: b[1:]}
	m.Obj = r.uint()
	m.Key = r.bytes()
	m.Val = r.bytes()
	m.Rev = r.uint()
	m.N = r.int()
	m.Name = r.string()
	m.Keys = r.bytesList()
	m.Vals = r.bytesList()
	m.Objs = r.uints()
	if r.bad || len(r.b) != 0 {
		return mreq{}, false
	}
	return m, true
}

// decodeMrepFast decodes a reply without an error the plain way; false: ask the codec.
func decodeMrepFast(b []byte) (m mrep, ok bool) {
	if !fastWireOK || len(b) < 2 || b[0] != 0x80|8 || b[1] != 0xf6 {
		return m, false
	}
	r := &msgReader{b: b[2:]}
	m.Val = r.bytes()
	m.Rev = r.uint()
	m.OK = r.bool()
	m.N = r.int()
	m.Keys = r.bytesList()
	m.Vals = r.bytesList()
	m.Revs = r.uints()
	if r.bad || len(r.b) != 0 {
		return mrep{}, false
	}
	return m, true
}
