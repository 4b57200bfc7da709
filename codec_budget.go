package mp

import (
	"encoding/binary"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// The allocation budget of decoding (see codec.go). The codec checks that every element of an
// array is there before it allocates the array, so a length costs at most one element per byte
// received; but one byte (a CBOR null, or an empty map) can stand for a whole element of the
// target type, and that element may be large. perItemCost says, for a target type, how much one
// CBOR item can make the codec allocate at most; when the bytes times that could pass the
// budget, measureDecode walks the message along the target type and adds up what decoding it
// would allocate, before anything is decoded.

// decodeBudget is the most that decoding n bytes may allocate.
func decodeBudget(n int) uint64 { return decodeFactor*uint64(n) + decodeSlack }

// Costs, in bytes, of what the codec builds, generously rounded up.
const (
	// anyItemCost bounds what one item decoded into an interface costs: its box, its slot in
	// a []any or map[string]any, an empty map's header.
	anyItemCost = 200
	// mapHeaderCost is what an empty map costs.
	mapHeaderCost = 64
	// sliceHeaderCost is what the codec allocates for each slice it makes (reflect's header),
	// an empty one included.
	sliceHeaderCost = 32
	// opaqueFactor: a type with its own unmarshal method (or time.Time, big.Int) costs this
	// many times its encoding.
	opaqueFactor = 2
)

// mapPairCost is what one pair of a map with key and element types k and v costs: the slot, its
// control byte and load factor, and the copies made while the map grows.
func mapPairCost(k, v reflect.Type) uint64 { return 3 * (uint64(k.Size()) + uint64(v.Size()) + 8) }

var perItemCache sync.Map // reflect.Type → uint64

// perItemCost bounds what decoding one CBOR item (one byte at least) into a value of type t, or
// into any value inside it, allocates, not counting the bytes of strings (at most one per byte).
func perItemCost(t reflect.Type) uint64 {
	if c, ok := perItemCache.Load(t); ok {
		return c.(uint64)
	}
	var worst uint64
	seen := map[reflect.Type]bool{}
	var visit func(t reflect.Type)
	visit = func(t reflect.Type) {
		if seen[t] {
			return
		}
		seen[t] = true
		worst = max(worst, ownCost(t))
		if opaque(t) {
			return
		}
		switch t.Kind() {
		case reflect.Pointer:
			visit(t.Elem())
		case reflect.Slice:
			worst = max(worst, uint64(t.Elem().Size())+ownCost(t.Elem()))
			visit(t.Elem())
		case reflect.Array:
			visit(t.Elem())
		case reflect.Map:
			worst = max(worst, mapPairCost(t.Key(), t.Elem())+max(ownCost(t.Key()), ownCost(t.Elem())))
			visit(t.Key())
			visit(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				visit(t.Field(i).Type)
			}
		}
	}
	visit(t)
	worst += opaqueFactor + 1 // the bytes of strings and opaque values
	perItemCache.Store(t, worst)
	return worst
}

// ownCost is what one item decoded into a value of type t allocates itself, not counting its
// slot in its container nor its elements: the values its pointers point to, a map's header, an
// interface's box.
func ownCost(t reflect.Type) uint64 {
	var c uint64
	for t.Kind() == reflect.Pointer {
		c += uint64(t.Elem().Size())
		t = t.Elem()
	}
	switch {
	case opaque(t):
	case t.Kind() == reflect.Interface, t == cborTagType:
		c += anyItemCost
	case t.Kind() == reflect.Map:
		c += mapHeaderCost
	case t.Kind() == reflect.Slice:
		c += sliceHeaderCost
	}
	return c
}

var (
	cborUnmarshalerType = reflect.TypeFor[cbor.Unmarshaler]()
	timeType            = reflect.TypeFor[time.Time]()
	bigIntType          = reflect.TypeFor[big.Int]()
	cborTagType         = reflect.TypeFor[cbor.Tag]()
	cborRawTagType      = reflect.TypeFor[cbor.RawTag]()
	cborRawMessageType  = reflect.TypeFor[cbor.RawMessage]()
	cborSimpleValueType = reflect.TypeFor[cbor.SimpleValue]()
	cborByteStringType  = reflect.TypeFor[cbor.ByteString]()
)

// opaque reports whether values of t are decoded whole by a method of their own or by the
// codec's special cases, from the item's encoding, rather than element by element. (Types with
// UnmarshalBinary or UnmarshalText are not: the codec calls those for strings only, and decodes
// anything else into the type's structure.)
func opaque(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return false
	}
	switch {
	case reflect.PointerTo(t).Implements(cborUnmarshalerType):
		return true
	case t == timeType, t == bigIntType, t == cborRawTagType, t == cborRawMessageType,
		t == cborSimpleValueType, t == cborByteStringType:
		return true
	}
	return false
}

// A budgetWalk adds up what decoding a well-formed message into a type would allocate, and
// stops as soon as the sum passes limit.
type budgetWalk struct {
	b     []byte
	off   int
	cost  uint64
	limit uint64
	bad   bool // the message is not what Wellformed promised (never expected)
}

// decodeMeasure is what measureDecode found.
type decodeMeasure struct {
	cost uint64 // what decoding allocates at most (as far as the walk went)
	ok   bool   // cost is within the limit, and the message was walked whole
}

// measureDecode adds up what decoding b, which the codec found well-formed, into a value of type
// t allocates at most, stopping once that passes limit.
func measureDecode(b []byte, t reflect.Type, limit uint64) decodeMeasure {
	w := &budgetWalk{b: b, limit: limit}
	w.item(t, 0)
	return decodeMeasure{cost: w.cost, ok: !w.bad && w.cost <= limit && w.off == len(b)}
}

func (w *budgetWalk) over() bool { return w.bad || w.cost > w.limit }

// head reads an item's head: its major type, additional information and argument.
func (w *budgetWalk) head() (major, ai byte, arg uint64) {
	if w.off >= len(w.b) {
		w.bad = true
		return 0, 0, 0
	}
	c := w.b[w.off]
	w.off++
	major, ai = c>>5, c&31
	n := 0
	switch {
	case ai < 24:
		return major, ai, uint64(ai)
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	case ai == 31:
		return major, ai, 0
	default:
		w.bad = true
		return 0, 0, 0
	}
	if len(w.b)-w.off < n {
		w.bad = true
		return 0, 0, 0
	}
	var buf [8]byte
	copy(buf[8-n:], w.b[w.off:w.off+n])
	w.off += n
	return major, ai, binary.BigEndian.Uint64(buf[:])
}

// atBreak consumes the break that ends an indefinite-length item, if it is next.
func (w *budgetWalk) atBreak() bool {
	if w.off < len(w.b) && w.b[w.off] == 0xff {
		w.off++
		return true
	}
	if w.off >= len(w.b) {
		w.bad = true
		return true
	}
	return false
}

// str skips a byte or text string whose head was read, and returns its length.
func (w *budgetWalk) str(ai byte, arg uint64) uint64 {
	if ai != 31 {
		if arg > uint64(len(w.b)-w.off) {
			w.bad = true
			return 0
		}
		w.off += int(arg)
		return arg
	}
	var n uint64
	for !w.over() && !w.atBreak() {
		_, cai, carg := w.head()
		n += w.str(cai, carg)
	}
	return n
}

// each calls f for each element of an array or map whose head was read: arg of them, or up to
// the break for an indefinite length; per counts the items of one element (1 or 2).
func (w *budgetWalk) each(ai byte, arg uint64, f func(i uint64)) {
	if ai != 31 {
		for i := uint64(0); i < arg && !w.over(); i++ {
			f(i)
		}
		return
	}
	for i := uint64(0); !w.over() && !w.atBreak(); i++ {
		f(i)
	}
}

// item walks one item decoded into a value of type t; t nil means a value whose type is not
// known, each item of which costs bound.
func (w *budgetWalk) item(t reflect.Type, bound uint64) {
	if w.over() {
		return
	}
	if t == nil {
		w.cost += bound
		major, ai, arg := w.head()
		switch major {
		case 2, 3:
			w.cost += w.str(ai, arg)
		case 4:
			w.each(ai, arg, func(uint64) { w.item(nil, bound) })
		case 5:
			w.each(ai, arg, func(uint64) { w.item(nil, bound); w.item(nil, bound) })
		case 6:
			w.item(nil, bound)
		}
		return
	}
	if w.off < len(w.b) && (w.b[w.off] == 0xf6 || w.b[w.off] == 0xf7) {
		w.off++ // null or undefined: the zero value, nothing allocated
		return
	}
	for t.Kind() == reflect.Pointer {
		w.cost += uint64(t.Elem().Size())
		t = t.Elem()
	}
	if opaque(t) {
		start := w.off
		w.item(nil, 0)
		w.cost += opaqueFactor * uint64(w.off-start)
		return
	}
	if t.Kind() == reflect.Interface || t == cborTagType { // a cbor.Tag's content is an any
		w.item(nil, anyItemCost)
		return
	}
	start := w.off
	major, ai, arg := w.head()
	switch {
	case major == 0 || major == 1 || major == 7: // numbers and simple values: in place
	case major == 6: // a tag around the value: its content decodes into t
		w.item(t, 0)
	case major == 2 || major == 3:
		w.cost += w.str(ai, arg)
	case major == 4 && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		elem := t.Elem()
		per := uint64(0)
		if t.Kind() == reflect.Slice {
			per = uint64(elem.Size())
			w.cost += sliceHeaderCost
		}
		w.each(ai, arg, func(uint64) {
			w.cost += per
			w.item(elem, 0)
		})
	case major == 5 && t.Kind() == reflect.Map:
		k, v := t.Key(), t.Elem()
		w.cost += mapHeaderCost
		pair := mapPairCost(k, v)
		w.each(ai, arg, func(uint64) {
			w.cost += pair
			w.item(k, 0)
			w.item(v, 0)
		})
	case major == 5 && t.Kind() == reflect.Struct:
		fields := budgetFieldsOf(t)
		w.each(ai, arg, func(uint64) {
			w.item(fields.field(w.key()))
		})
	default:
		// Anything else (a struct as an array, or a mismatch, which the codec reports): every
		// item inside costs at most what the type allows for one.
		w.off = start
		w.item(nil, perItemCost(t))
	}
}

// key reads a map key and returns it as the text of a field name ("" if it cannot name one).
func (w *budgetWalk) key() string {
	if w.off >= len(w.b) {
		w.bad = true
		return ""
	}
	start := w.off
	major, ai, arg := w.head()
	switch {
	case major == 3 && ai != 31:
		if w.str(ai, arg); !w.bad {
			return strings.ToLower(string(w.b[w.off-int(arg) : w.off]))
		}
	case major == 0:
		return strconv.FormatUint(arg, 10)
	case major == 1:
		return "-" + strconv.FormatUint(arg+1, 10)
	}
	w.off = start
	w.item(nil, 0)
	return ""
}

// budgetFields maps the keys that may name a struct's fields (in lower case, and keyasint
// numbers) to the fields' types.
type budgetFields struct {
	byKey map[string]reflect.Type
	bound uint64 // the cost per item of a key that names no field, or several
}

// field returns what to walk the value of key with.
func (f *budgetFields) field(key string) (reflect.Type, uint64) {
	if t, ok := f.byKey[key]; ok && t != nil {
		return t, 0
	}
	return nil, f.bound
}

var budgetFieldsCache sync.Map // reflect.Type → *budgetFields

func budgetFieldsOf(t reflect.Type) *budgetFields {
	if f, ok := budgetFieldsCache.Load(t); ok {
		return f.(*budgetFields)
	}
	f := &budgetFields{byKey: map[string]reflect.Type{}, bound: perItemCost(t)}
	var add func(t reflect.Type, depth int)
	add = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag, ok := sf.Tag.Lookup("cbor")
			if !ok {
				tag = sf.Tag.Get("json")
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if sf.Anonymous && name == "" && depth < 8 {
				et := sf.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					add(et, depth+1)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			key := strings.ToLower(name)
			if _, dup := f.byKey[key]; dup {
				f.byKey[key] = nil // two fields answer to it: walk it with the bound
			} else {
				f.byKey[key] = sf.Type
			}
		}
	}
	add(t, 0)
	budgetFieldsCache.Store(t, f)
	return f
}
