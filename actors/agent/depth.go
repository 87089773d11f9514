package agent

// MaxJSONDepth is how deeply a JSON value the host accepts may nest its
// arrays and objects: request bodies, and the tool inputs a model asks
// for. What the store keeps it must read back, and Go's decoder refuses
// documents nested past 10,000 levels; a message record wraps a tool
// input in a few levels of its own, so a bound far below that keeps
// every stored session loadable.
const MaxJSONDepth = 256

// JSONDepth returns how deeply b's arrays and objects nest, reading it
// once without decoding it. Brackets inside strings do not count; a value
// that is not JSON gets some depth, and a decoder refuses it after.
func JSONDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
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
	depth := 0
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case (c == '{' || c == '[') && depth == maxDepth:
			i = skipValue(b, i)
			out = append(out, "null"...)
			continue
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
		out = append(out, c)
	}
	return out
}

// skipValue returns the index of the bracket that closes the array or
// object opening at b[i] (the last index if none does).
func skipValue(b []byte, i int) int {
	depth := 0
	inString, escaped := false, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(b) - 1
}
