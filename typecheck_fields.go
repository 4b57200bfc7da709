package mp

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Which struct fields the codec sees: the rules of encoding/json, as fxamacker/cbor applies them.

// fieldTag returns the tag the codec reads for f: its cbor tag, else its json tag.
func fieldTag(f reflect.StructField) string {
	if tag := f.Tag.Get("cbor"); tag != "" {
		return tag
	}
	return f.Tag.Get("json")
}

// visField is a field the codec encodes, found as the codec finds it (collectFields in
// fxamacker/cbor's structfields.go, which follows encoding/json).
type visField struct {
	name     string
	keyAsInt bool
	idx      []int
	typ      reflect.Type
	tagged   bool
	goPath   string // the selector from the struct: "Inner.Count"
	tainted  bool   // reached through an unexported embedded struct
}

// structFields is what the codec makes of a struct type.
type structFields struct {
	fields []*visField // in field order
	// problem, if not nil, says why the struct would lose data, given its path in the walk.
	problem func(path string) string
}

var structFieldsCache sync.Map // reflect.Type → *structFields

// structFieldsOf returns the fields the codec encodes for struct type t, and the first field it
// would drop without being told to.
func structFieldsOf(t reflect.Type) *structFields {
	if v, ok := structFieldsCache.Load(t); ok {
		return v.(*structFields)
	}
	sf := collectStructFields(t)
	structFieldsCache.Store(t, sf)
	return sf
}

// embedded is an embedded struct whose fields are promoted.
type embedded struct {
	idx     []int
	goPath  string
	tainted bool
}

func collectStructFields(t reflect.Type) *structFields {
	sf := &structFields{}
	problem := func(p func(path string) string) {
		if sf.problem == nil {
			sf.problem = p
		}
	}
	flds, next := appendVisFields(t, embedded{}, nil, nil, problem)
	visited := map[reflect.Type]bool{t: true}
	for len(next) > 0 {
		cur := next
		next = nil
		// Go through the types in a fixed order, so that the problem reported is always the same.
		types := make([]reflect.Type, 0, len(cur))
		for et := range cur {
			types = append(types, et)
		}
		slices.SortFunc(types, func(a, b reflect.Type) int { return slices.Compare(cur[a][0].idx, cur[b][0].idx) })
		for _, et := range types {
			embs := cur[et]
			if len(embs) > 1 {
				problem(func(path string) string {
					return fmt.Sprintf("%s embeds %s twice at the same depth (%s.%s and %s.%s), so the codec drops the fields of both: give one of the embedded fields a name with a tag (`cbor:\"name\"`), or tag one `cbor:\"-\"`", typeLabel(t), et, path, embs[0].goPath, path, embs[1].goPath)
				})
				continue
			}
			if visited[et] {
				problem(func(path string) string {
					return fmt.Sprintf("field %s.%s embeds %s, which encloses it, so the codec ignores it: give the embedded field a name with a tag (`cbor:\"name\"`), or tag it `cbor:\"-\"`", path, embs[0].goPath, et)
				})
				continue
			}
			visited[et] = true
			flds, next = appendVisFields(et, embs[0], flds, next, problem)
		}
	}
	for _, f := range flds {
		if f.keyAsInt {
			if n, err := strconv.Atoi(f.name); err == nil {
				f.name = strconv.Itoa(n)
			}
		}
	}
	// Keep the dominant field of each name, as the codec does; the others are dropped.
	slices.SortFunc(flds, func(a, b *visField) int {
		if c := cmp.Compare(a.name, b.name); c != 0 {
			return c
		}
		if a.keyAsInt != b.keyAsInt {
			if a.keyAsInt {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(len(a.idx), len(b.idx)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.idx, b.idx)
	})
	kept := flds[:0:0]
	for i := 0; i < len(flds); {
		j := i + 1
		for j < len(flds) && flds[j].name == flds[i].name && flds[j].keyAsInt == flds[i].keyAsInt {
			j++
		}
		group := flds[i:j]
		win, rest := group[0], group[1:]
		if len(rest) > 0 && len(win.idx) == len(rest[0].idx) && win.tagged == rest[0].tagged {
			a, b := win, rest[0]
			problem(func(path string) string {
				return fmt.Sprintf("fields %s.%s and %s.%s have the same name %q at the same depth, so the codec drops both: rename one with a tag (`cbor:\"other\"`), or tag one `cbor:\"-\"`", path, a.goPath, path, b.goPath, a.name)
			})
		} else {
			kept = append(kept, win)
			for _, h := range rest {
				if h.typ.Size() == 0 {
					continue
				}
				problem(func(path string) string {
					return fmt.Sprintf("field %s.%s is hidden by %s.%s, which has the same name %q, so it would arrive as its zero value: rename one with a tag (`cbor:\"other\"`), or tag the hidden one `cbor:\"-\"`", path, h.goPath, path, win.goPath, h.name)
				})
			}
		}
		i = j
	}
	slices.SortFunc(kept, func(a, b *visField) int { return slices.Compare(a.idx, b.idx) })
	sf.fields = kept
	return sf
}

// appendVisFields appends the fields of struct type st, found in root at emb, to flds, and the
// embedded structs whose fields are promoted to next, as appendFields in fxamacker/cbor does. It
// reports the fields the codec would drop silently.
func appendVisFields(st reflect.Type, emb embedded, flds []*visField, next map[reflect.Type][]embedded, problem func(func(path string) string)) ([]*visField, map[reflect.Type][]embedded) {
	for i := range st.NumField() {
		f := st.Field(i)
		ft := derefType(f.Type)
		goPath := f.Name
		if emb.goPath != "" {
			goPath = emb.goPath + "." + f.Name
		}
		tag := fieldTag(f)
		if !f.IsExported() && !(f.Anonymous && ft.Kind() == reflect.Struct) {
			// The codec skips the field. Say so unless that is harmless or asked for.
			if f.Name == "_" || tag == "-" || f.Type.Size() == 0 || f.Type == mutexType || f.Type == rwMutexType {
				continue
			}
			problem(unexportedProblem(st, f, goPath))
			continue
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(emb.idx[:len(emb.idx):len(emb.idx)], i)
		if !f.Anonymous || ft.Kind() != reflect.Struct || name != "" {
			fieldName := name
			if fieldName == "" {
				fieldName = f.Name
			}
			keyAsInt := false
			for _, o := range strings.Split(opts, ",") {
				keyAsInt = keyAsInt || o == "keyasint"
			}
			// An unexported field here is an embedded struct named by its tag: the codec encodes it,
			// but the handle walk does not look into it.
			flds = append(flds, &visField{name: fieldName, keyAsInt: keyAsInt, idx: idx, typ: f.Type, tagged: tag != "", goPath: goPath, tainted: emb.tainted || !f.IsExported()})
			continue
		}
		if ft == mutexType || ft == rwMutexType {
			continue // an embedded lock: nothing of it crosses, as it should
		}
		if !f.IsExported() && f.Type.Kind() == reflect.Pointer {
			problem(func(path string) string {
				return fmt.Sprintf("embedded field %s.%s is a pointer to the unexported struct type %s, which the receiving side cannot allocate: embed it by value, export the type, or tag the field `cbor:\"-\"`", path, goPath, ft)
			})
			continue
		}
		if next == nil {
			next = make(map[reflect.Type][]embedded)
		}
		next[ft] = append(next[ft], embedded{idx: idx, goPath: goPath, tainted: emb.tainted || !f.IsExported()})
	}
	return flds, next
}

// unexportedProblem reports the unexported field f of struct st, at goPath from the struct being
// walked.
func unexportedProblem(st reflect.Type, f reflect.StructField, goPath string) func(path string) string {
	return func(path string) string {
		what := "field"
		if f.Anonymous {
			what = "embedded field"
		}
		full := path + "." + goPath
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", what, full)
		if decl := typeLabel(st) + "." + f.Name; decl != full {
			fmt.Fprintf(&b, " (%s)", decl)
		}
		b.WriteString(" is unexported, so it would arrive as its zero value: ")
		if pkg := st.PkgPath(); foreignPackage(pkg) {
			fmt.Fprintf(&b, "%s belongs to package %s, so tag the field of yours that holds it `cbor:\"-\"` to leave it out, or hold the data in a type of your own", typeLabel(st), pkg)
			return b.String()
		}
		if f.Anonymous {
			b.WriteString("export its type")
		} else {
			fmt.Fprintf(&b, "export it (%s)", exportedName(f.Name))
		}
		b.WriteString(", or tag it `cbor:\"-\"` to leave it out on purpose")
		return b.String()
	}
}

// exportedName is name with its first letter in upper case.
func exportedName(name string) string {
	r, n := utf8.DecodeRuneInString(name)
	if u := unicode.ToUpper(r); u != r {
		return string(u) + name[n:]
	}
	return "X" + name // a name that starts with no letter that has an upper case
}
