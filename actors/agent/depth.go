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
