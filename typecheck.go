package mp

import (
	"encoding"
	"fmt"
	"math/big"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mp-go/mp/internal/bootstrap"

	"github.com/fxamacker/cbor/v2"
)

// The codec drops what it cannot see: a struct field that is unexported, or hidden by another
// field of the same name, arrives as its zero value, and nobody is told. So the types that cross
// processes are checked before any value does: Register checks a function's argument and result
// types, NewQueue, NewJoinableQueue and Pipe their element type, and a type that would lose data
// is refused with an error that names the field and says how to fix it. The check walks the type
// once (the result is cached per type) and mirrors the codec's rules exactly:
//
//   - Only exported fields are encoded. An unexported field is an error unless it is blank (_),
//     tagged `cbor:"-"` (or `json:"-"` without a cbor tag) to leave it out on purpose, of a
//     zero-size type, or a sync.Mutex or sync.RWMutex (whose zero value is the right value on
//     arrival).
//   - The fields of an embedded struct are promoted, also when its type is unexported, by the
//     rules of encoding/json: a field hidden by a shallower one of the same name, or two of the
//     same name at the same depth, would be dropped, and are errors.
//   - Types the codec encodes with their own methods — cbor.Marshaler and
//     encoding.BinaryMarshaler (time.Time, big.Int, mp's handles and descriptors) — are not looked
//     into, unless the method is promoted from an embedded field while the struct has fields of
//     its own, which the method does not know about.
//   - Channels, functions, unsafe pointers and uintptrs cannot be encoded; a struct field of one
//     of those kinds is an error that names the field (plain numbers, and arrays of them, travel
//     as memory where the package can, and are not checked). Complex numbers travel as pairs of
//     floats (codec_complex.go), except behind an interface.
//
// A field of interface type is checked when a value is encoded: the dynamic type of each value
// found behind an interface is checked with the same rules (the walk once per type, cached), and
// a problem is an ErrEncode error of the call that encodes it. Costs, per encoded value: a cached
// lookup, about 20 ns, when the type holds no interface; otherwise a walk of the parts that can
// hold one — for a map[string]any of decoded data, somewhat less than encoding it costs
// (BenchmarkCheckEncode*, BenchmarkMarshal*).

var (
	cborMarshalerType   = reflect.TypeFor[cbor.Marshaler]()
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	mutexType           = reflect.TypeFor[sync.Mutex]()
	rwMutexType         = reflect.TypeFor[sync.RWMutex]()
)

// codecOwnTypes are the types the codec encodes by its own rules, whatever their fields.
var codecOwnTypes = map[reflect.Type]bool{
	reflect.TypeFor[time.Time]():        true,
	reflect.TypeFor[big.Int]():          true,
	reflect.TypeFor[cbor.Tag]():         true,
	reflect.TypeFor[cbor.RawTag]():      true,
	reflect.TypeFor[cbor.SimpleValue](): true,
	reflect.TypeFor[cbor.RawMessage]():  true,
	reflect.TypeFor[cbor.ByteString]():  true,
}

// checkFuncTypes panics if the argument or result type of the function being registered under
// name would not cross processes intact.
func checkFuncTypes[T, R any](name string) {
	if bootstrap.Marked() {
		// A child: the same binary ran this check when the program started, with the same
		// outcome, or the child would not exist. Skipping it keeps a child's start lean.
		return
	}
	for _, c := range [...]struct {
		what string
		t    reflect.Type
	}{{"argument", reflect.TypeFor[T]()}, {"result", reflect.TypeFor[R]()}} {
		if plainType(c.t) {
			continue
		}
		if p := typeProblem(c.t); p != "" {
			panic(fmt.Sprintf("mp: Register(%q): the %s type %s cannot cross processes intact: %s", name, c.what, c.t, p))
		}
	}
}

// checkElemType returns an ErrEncode error if values of T, the element type of the queue or pipe
// that ctor makes, would not cross processes intact.
func checkElemType[T any](ctor string) error {
	t := reflect.TypeFor[T]()
	if plainType(t) {
		return nil // travels as its memory
	}
	if p := typeProblem(t); p != "" {
		return fmt.Errorf("%w: %s[%s]: values of %s cannot cross processes intact: %s", ErrEncode, ctor, t, t, p)
	}
	return nil
}

// checkEncode returns an ErrEncode error if v would not arrive intact: if its type has a problem
// (see typeProblem), or a value in one of its interfaces has. It costs a map lookup for a value
// whose type holds no interface, and a walk of the parts that can hold one otherwise.
func checkEncode(what string, v any) error {
	if v == nil {
		return nil
	}
	t := reflect.TypeOf(v)
	ci := codecInfoOf(t)
	if ci.problem != "" {
		return fmt.Errorf("%w: %s of type %s: %s", ErrEncode, what, t, ci.problem)
	}
	if !ci.iface {
		return nil
	}
	if p := checkDynamic(reflect.ValueOf(v)); p != nil { // the interfaces inside v: checkAny on each
		return fmt.Errorf("%w: %s of type %s: the %s at %s: %s", ErrEncode, what, t, p.typ, typeLabel(t)+p.path(), p.msg)
	}
	return nil
}

// codecInfo is what the check knows of a type.
type codecInfo struct {
	problem string // why values of the type would not cross intact, or ""
	iface   bool   // whether a value of the type can hold an interface value the codec encodes
	cplx    bool   // whether a value of the type holds complex numbers (see codec_complex.go)
}

var codecInfos sync.Map // reflect.Type → *codecInfo

func codecInfoOf(t reflect.Type) *codecInfo {
	if v, ok := codecInfos.Load(t); ok {
		return v.(*codecInfo)
	}
	if simpleType(t, 0) {
		// Nothing to find: skip the walk, which runs much of reflect and the codec's field
		// rules (half a MiB of code a child would otherwise touch to encode an int).
		codecInfos.Store(t, simpleInfo)
		return simpleInfo
	}
	w := typeWalk{seen: make(map[walkKey]bool)}
	ci := &codecInfo{problem: w.walk(t, typeLabel(t), "", false), iface: reachesInterface(t, make(map[reflect.Type]bool))}
	if ci.cplx = hasComplex(t, make(map[reflect.Type]bool)); ci.cplx && ci.problem == "" {
		ci.problem = complexMirrorOf(t).problem
	}
	codecInfos.Store(t, ci)
	return ci
}

var simpleInfo = &codecInfo{}

// simpleType reports whether t is built only of booleans, integers (not uintptr), floats and
// strings, through pointers, slices, arrays and maps, or is a struct without fields: a type whose
// values always cross intact and can hold no interface.
func simpleType(t reflect.Type, depth int) bool {
	if depth > 8 {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return simpleType(t.Elem(), depth+1)
	case reflect.Map:
		return simpleType(t.Key(), depth+1) && simpleType(t.Elem(), depth+1)
	case reflect.Struct:
		return t.NumField() == 0
	}
	return false
}

// typeProblem returns why values of t would not cross processes intact, naming the field, or ""
// when they would. The walk runs once per type.
func typeProblem(t reflect.Type) string { return codecInfoOf(t).problem }

// holdsInterface reports whether a value of t can hold an interface value the codec encodes,
// whose dynamic type checkEncode must check.
func holdsInterface(t reflect.Type) bool { return codecInfoOf(t).iface }

type walkKey struct {
	t       reflect.Type
	tainted bool
}

// typeWalk is one walk of a type's graph, from a root.
type typeWalk struct {
	seen map[walkKey]bool
}

// walk returns the first problem with values of t, found at path (a Go expression from the
// root: "main.Outer.Items[i].count"). field is the path of the struct field that holds the value,
// "" at the root. tainted says the value is reached through an unexported embedded struct, which
// mp's handle passing does not look into.
func (w *typeWalk) walk(t reflect.Type, path, field string, tainted bool) string {
	for {
		if isHandleType(t) {
			if tainted {
				return fmt.Sprintf("field %s holds a %s inside an unexported embedded struct, where mp does not look for handles, so it would arrive broken: embed an exported type instead, or move the field out of the embedded struct", path, t)
			}
			return ""
		}
		if t.Kind() != reflect.Pointer {
			break
		}
		t = t.Elem()
	}
	if codecOwnTypes[t] || t == mutexType || t == rwMutexType {
		return ""
	}
	if m := honouredMarshaler(t); m != "" {
		return promotedMarshaler(t, m, path)
	}
	k := walkKey{t, tainted}
	if w.seen[k] {
		return ""
	}
	w.seen[k] = true
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Interface,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return "" // complex numbers: see codec_complex.go
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "" // a byte string
		}
		return w.walk(t.Elem(), path+"[i]", field, tainted)
	case reflect.Array:
		return w.walk(t.Elem(), path+"[i]", field, tainted)
	case reflect.Map:
		if p := w.walk(t.Key(), path+"{key}", field, tainted); p != "" {
			return p
		}
		return w.walk(t.Elem(), path+"[k]", field, tainted)
	case reflect.Struct:
		si := structFieldsOf(t)
		if si.problem != nil {
			return si.problem(path)
		}
		for _, f := range si.fields {
			fp := path + "." + f.goPath
			if p := w.walk(f.typ, fp, fp, tainted || f.tainted); p != "" {
				return p
			}
		}
		return ""
	}
	// Chan, Func, UnsafePointer, Uintptr: the codec has no encoding.
	if field == "" {
		return fmt.Sprintf("the codec cannot encode a %s", t)
	}
	where := path
	if where != field {
		where += " in field " + field
	}
	return fmt.Sprintf("field %s: the codec cannot encode a %s; tag the field `cbor:\"-\"` to leave it out on purpose", where, t)
}

// honouredMarshaler returns the name of the method with which the codec encodes values of t
// itself, or "".
func honouredMarshaler(t reflect.Type) string {
	pt := reflect.PointerTo(t)
	switch {
	case pt.Implements(cborMarshalerType):
		return "MarshalCBOR"
	case pt.Implements(binaryMarshalerType):
		return "MarshalBinary"
	}
	return ""
}

// promotedMarshaler reports a struct t that the codec encodes with a method m it got from an
// embedded field, while t has fields of its own that the method does not encode.
func promotedMarshaler(t reflect.Type, m, path string) string {
	if t.Kind() != reflect.Struct || declaresMethod(t, m) {
		return ""
	}
	var from *reflect.StructField
	lost := ""
	for i := range t.NumField() {
		f := t.Field(i)
		if pt := reflect.PointerTo(derefType(f.Type)); f.Anonymous && from == nil && (pt.Implements(cborMarshalerType) || pt.Implements(binaryMarshalerType)) {
			from = &f
			continue
		}
		if lost == "" && f.Name != "_" && fieldTag(f) != "-" && f.Type.Size() != 0 {
			lost = f.Name
		}
	}
	if from == nil || lost == "" {
		return ""
	}
	return fmt.Sprintf("%s gets its %s method from its embedded field %s, so it would arrive as that field alone and field %s.%s would arrive as its zero value: give the embedded field a name (%s %s), or declare MarshalCBOR and UnmarshalCBOR on %s itself", typeLabel(t), m, from.Name, path, lost, from.Name, from.Type, typeLabel(t))
}

// declaresMethod reports whether t (or *t) declares method m itself, rather than getting it from
// an embedded field: a promoted method is a wrapper the compiler generates.
func declaresMethod(t reflect.Type, m string) bool {
	meth, ok := t.MethodByName(m)
	if !ok {
		if meth, ok = reflect.PointerTo(t).MethodByName(m); !ok {
			return true
		}
	}
	f := runtime.FuncForPC(meth.Func.Pointer())
	if f == nil {
		return true // cannot tell: assume the author knows
	}
	file, _ := f.FileLine(f.Entry())
	return file != "<autogenerated>"
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// typeLabel names t at the start of a path: its name, or its literal in parentheses.
func typeLabel(t reflect.Type) string {
	for t.Name() == "" && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" {
		return t.String()
	}
	return "(" + t.String() + ")"
}

var mainModule = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Path
	}
	return ""
})

// foreignPackage reports whether pkg is outside the program's main module (the standard library,
// a dependency, mp itself), where the user cannot export a field.
func foreignPackage(pkg string) bool {
	pkg = strings.TrimSuffix(pkg, "_test")
	if pkg == "" || pkg == "main" {
		return false
	}
	m := mainModule()
	if m == "" {
		return false // cannot tell
	}
	return pkg != m && !strings.HasPrefix(pkg, m+"/")
}

// Values behind interfaces.

// reachesInterface reports whether the codec, encoding a value of t, can meet an interface.
func reachesInterface(t reflect.Type, seen map[reflect.Type]bool) bool {
	t = derefType(t)
	if seen[t] || codecOwnTypes[t] || honouredMarshaler(t) != "" || isHandleType(t) || isHandleType(reflect.PointerTo(t)) {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Slice, reflect.Array:
		return reachesInterface(t.Elem(), seen)
	case reflect.Map:
		return reachesInterface(t.Key(), seen) || reachesInterface(t.Elem(), seen)
	case reflect.Struct:
		for _, f := range structFieldsOf(t).fields {
			if reachesInterface(f.typ, seen) {
				return true
			}
		}
	}
	return false
}

// dynProblem is a problem with a value found behind an interface, at a path built as the walk
// unwinds.
type dynProblem struct {
	typ  reflect.Type // the dynamic type
	msg  string
	segs []string // path segments, innermost first
}

func (p *dynProblem) at(seg string) *dynProblem {
	p.segs = append(p.segs, seg)
	return p
}

func (p *dynProblem) path() string {
	var b strings.Builder
	for i := len(p.segs) - 1; i >= 0; i-- {
		b.WriteString(p.segs[i])
	}
	return b.String()
}

// checkAny checks x, the value of an interface, and what it holds. The dynamic types of decoded
// data take a fast path.
func checkAny(x any) *dynProblem {
	switch x := x.(type) {
	case nil, bool, string, int, int64, uint64, float64, []byte:
		return nil
	case []any:
		for i, e := range x {
			if p := checkAny(e); p != nil {
				return p.at("[" + strconv.Itoa(i) + "]")
			}
		}
		return nil
	case map[string]any:
		for k, e := range x {
			if p := checkAny(e); p != nil {
				return p.at("[" + strconv.Quote(k) + "]")
			}
		}
		return nil
	}
	t := reflect.TypeOf(x)
	v := reflect.ValueOf(x)
	if isHandleType(t) {
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return nil
		}
		// A handle the handle walk did not replace: it would be encoded as a struct.
		return &dynProblem{typ: t, msg: "mp's handle passing does not reach this position (inside an unexported embedded struct, for one), so the handle would arrive broken: hold it in an exported field of an exported type"}
	}
	ci := codecInfoOf(t)
	if ci.problem == "" && ci.cplx {
		return &dynProblem{typ: t, msg: "a complex number behind an interface would arrive as two floats: hold it in a field or element of a complex type"}
	}
	if ci.problem != "" {
		msg := ci.problem
		if _, ok := x.(error); ok {
			msg += "; an error crosses as a function's error (which keeps its identity, see RegisterError), or as its message (err.Error())"
		}
		return &dynProblem{typ: t, msg: msg}
	}
	if ci.iface {
		return checkDynamic(v)
	}
	return nil
}

// checkDynamic walks the parts of v that can hold interfaces and checks the dynamic type of each
// interface value found.
func checkDynamic(v reflect.Value) *dynProblem {
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if v.CanInterface() {
			return checkAny(v.Elem().Interface())
		}
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return checkDynamic(v.Elem())
	case reflect.Slice, reflect.Array:
		if !holdsInterface(v.Type().Elem()) {
			return nil
		}
		for i := range v.Len() {
			if p := checkDynamic(v.Index(i)); p != nil {
				return p.at("[" + strconv.Itoa(i) + "]")
			}
		}
	case reflect.Map:
		kt, vt := v.Type().Key(), v.Type().Elem()
		ki, vi := holdsInterface(kt), holdsInterface(vt)
		it := v.MapRange()
		for it.Next() {
			if ki {
				if p := checkDynamic(it.Key()); p != nil {
					return p.at(fmt.Sprintf("{%#v}", it.Key()))
				}
			}
			if vi {
				if p := checkDynamic(it.Value()); p != nil {
					return p.at(fmt.Sprintf("[%#v]", it.Key()))
				}
			}
		}
	case reflect.Struct:
		for _, f := range structFieldsOf(v.Type()).fields {
			if !holdsInterface(f.typ) {
				continue
			}
			fv, ok := fieldByIndex(v, f.idx)
			if !ok {
				continue
			}
			if p := checkDynamic(fv); p != nil {
				return p.at("." + f.goPath)
			}
		}
	}
	return nil
}

// fieldByIndex returns the field of struct v at idx, or false when a nil embedded pointer is on
// the way (the codec leaves the field out then).
func fieldByIndex(v reflect.Value, idx []int) (reflect.Value, bool) {
	for i, n := range idx {
		if i > 0 {
			for v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return v, false
				}
				v = v.Elem()
			}
		}
		v = v.Field(n)
	}
	return v, true
}
