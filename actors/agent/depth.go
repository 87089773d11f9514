package agent

// MaxJSONDepth is how deeply a JSON value the host accepts may nest its
// arrays and objects: request bodies, and the tool inputs a model asks
// for. What the store keeps it must read back, and Go's decoder refuses
// documents nested past 10,000 levels; a message record wraps a tool
// input in a few levels of its own, so a bound far below that keeps
// every stored session loadable.
const MaxJSONDepth = 256

// jsonText follows JSON text a byte at a time, telling brackets from
// bytes inside strings.
type jsonText struct{ inString, escaped bool }

// bracket reports whether c opens (+1) or closes (-1) an array or an
// object, or neither (0, also inside strings).
func (t *jsonText) bracket(c byte) int {
	switch {
	case t.inString:
		switch {
		case t.escaped:
			t.escaped = false
		case c == '\\':
			t.escaped = true
		case c == '"':
			t.inString = false
		}
	case c == '"':
		t.inString = true
	case c == '{' || c == '[':
		return 1
	case c == '}' || c == ']':
		return -1
	}
	return 0
}

// JSONDepth returns how deeply b's arrays and objects nest, reading it
// once without decoding it. Brackets inside strings do not count; a value
// that is not JSON gets some depth, and a decoder refuses it after.
func JSONDepth(b []byte) int {
	var t jsonText
	depth, deepest := 0, 0
	for _, c := range b {
		depth += t.bracket(c)
		deepest = max(deepest, depth)
	}
	return deepest
}

// TrimJSONDepth returns b with every array or object that would nest
// deeper than maxDepth replaced by null, reading b as JSON text (strings
// are kept as they are). It is for records stored before a depth bound
// held: a decoder refuses them whole, and trimmed they read back with
// everything but their deepest part. b itself is not changed; when
// nothing nests that deep, b is returned.
func TrimJSONDepth(b []byte, maxDepth int) []byte {
	if JSONDepth(b) <= maxDepth {
		return b
	}
	out := make([]byte, 0, len(b))
	var t jsonText
	depth := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch t.bracket(c) {
		case 1:
			if depth == maxDepth {
				i = skipValue(b, i)
				out = append(out, "null"...)
				continue
			}
			depth++
		case -1:
			depth--
		}
		out = append(out, c)
	}
	return out
}

// skipValue returns the index of the bracket that closes the array or
// object opening at b[i] (the last index if none does).
func skipValue(b []byte, i int) int {
	var t jsonText
	depth := 0
	for ; i < len(b); i++ {
		depth += t.bracket(b[i])
		if depth == 0 {
			return i
		}
	}
	return len(b) - 1
}
