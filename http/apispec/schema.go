package apispec

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// mode is the position a type is described in.
type mode uint8

const (
	modeResponse mode = iota
	modeRequest       // strict: unknown properties refused
	modeLenient       // a request body that takes unknown properties
)

type typeKey struct {
	t reflect.Type
	m mode
}

// reflector turns Go types into JSON Schema (2020-12, as OpenAPI 3.1 has
// it), collecting named structs as components.
type reflector struct {
	components map[string]any
	names      map[typeKey]string
	taken      map[string]typeKey
}

func newReflector() *reflector {
	return &reflector{components: map[string]any{}, names: map[typeKey]string{}, taken: map[string]typeKey{}}
}

var (
	timeType        = reflect.TypeOf(time.Time{})
	rawMessageType  = reflect.TypeOf(json.RawMessage(nil))
	marshalerType   = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	textMarshaler   = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

// schema describes a value of type t; a pointer may be null.
func (r *reflector) schema(t reflect.Type, m mode) map[string]any {
	if t.Kind() == reflect.Pointer {
		return nullable(r.schema(t.Elem(), m))
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawMessageType:
		return map[string]any{"description": "any JSON value"}
	case m == modeResponse && (t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType)),
		m != modeResponse && reflect.PointerTo(t).Implements(unmarshalerType):
		return map[string]any{"description": "any JSON value: the " + t.Name() + " wire type, which has its own JSON encoding"}
	case t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Interface:
		return map[string]any{"description": "any JSON value"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": r.schema(t.Elem(), m)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": r.schema(t.Elem(), m)}
	case reflect.Struct:
		if t.Name() == "" {
			return r.object(t, m)
		}
		return map[string]any{"$ref": "#/components/schemas/" + r.component(t, m)}
	}
	// Channels, funcs and complex numbers have no JSON form.
	return map[string]any{"description": "not encodable as JSON"}
}

// component returns the component name of the named struct t in mode m,
// describing it the first time.
func (r *reflector) component(t reflect.Type, m mode) string {
	k := typeKey{t, m}
	if name, ok := r.names[k]; ok {
		return name
	}
	name := r.freeName(t, m)
	r.names[k] = name
	r.taken[name] = k
	r.components[name] = map[string]any{} // a placeholder for recursive types
	r.components[name] = r.object(t, m)
	return name
}

func (r *reflector) freeName(t reflect.Type, m mode) string {
	base := typeName(t)
	suffix := ""
	if m != modeResponse && !strings.HasSuffix(base, "Request") {
		suffix = "Input"
	}
	candidates := []string{base + suffix}
	if m == modeLenient {
		candidates = append(candidates, base+suffix+"Lenient")
	}
	candidates = append(candidates, upperFirst(pkgName(t))+base+suffix)
	for _, c := range candidates {
		if _, used := r.taken[c]; !used {
			return c
		}
	}
	for i := 2; ; i++ {
		c := candidates[0] + strconv.Itoa(i)
		if _, used := r.taken[c]; !used {
			return c
		}
	}
}

// object describes the fields of struct t as encoding/json encodes them.
func (r *reflector) object(t reflect.Type, m mode) map[string]any {
	props := map[string]any{}
	var required []string
	r.fields(t, m, props, &required, map[string]bool{})
	out := map[string]any{"type": "object", "properties": props}
	if m != modeLenient {
		out["additionalProperties"] = false
	}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func (r *reflector) fields(t reflect.Type, m mode, props map[string]any, required *[]string, seen map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && !hasTag || f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				r.fields(et, m, props, required, seen)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if seen[name] {
			continue // the shallower field wins, as in encoding/json
		}
		seen[name] = true
		var s map[string]any
		if hasOpt(opts, "string") {
			s = map[string]any{"type": "string"}
		} else {
			s = r.schema(ft, m)
		}
		props[name] = s
		if m == modeResponse && !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// nullable lets s also be null.
func nullable(s map[string]any) map[string]any {
	if _, ok := s["$ref"]; ok {
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	}
	typ, ok := s["type"].(string)
	if !ok {
		// No type: any value, which validators still read as not null.
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	}
	out := make(map[string]any, len(s))
	for k, v := range s {
		out[k] = v
	}
	out["type"] = []any{typ, "null"}
	return out
}

// typeName names t for a component: List[pkg.File] becomes FileList.
func typeName(t reflect.Type) string {
	n := t.Name()
	base, args, generic := strings.Cut(n, "[")
	if !generic {
		return n
	}
	var b strings.Builder
	for a := range strings.SplitSeq(strings.TrimSuffix(args, "]"), ",") {
		a = strings.TrimLeft(strings.TrimSpace(a), "*[]")
		if i := strings.LastIndexByte(a, '.'); i >= 0 {
			a = a[i+1:]
		}
		b.WriteString(upperFirst(a))
	}
	return b.String() + base
}

func pkgName(t reflect.Type) string {
	p := t.PkgPath()
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	return p
}

func upperFirst(s string) string {
	for i, c := range s {
		return string(unicode.ToUpper(c)) + s[i+len(string(c)):]
	}
	return s
}
