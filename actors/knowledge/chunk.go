package knowledge

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// Chunking defaults and bounds (API.md: chunking_strategy).
const (
	DefaultMaxChunkTokens = 800
	DefaultOverlapTokens  = 400
	MinChunkTokens        = 100
	MaxChunkTokens        = 4096
)

// Piece is one chunk of an extracted text: text[Start:End].
type Piece struct {
	Text       string
	Start, End int
	Tokens     int
}

var (
	codecOnce sync.Once
	codec     tokenizer.Codec
	codecErr  error
)

// tokens returns the tokenizer: cl100k_base, whose vocabulary is built into
// the binary (nothing is downloaded at run time).
func tokens() (tokenizer.Codec, error) {
	codecOnce.Do(func() { codec, codecErr = tokenizer.Get(tokenizer.Cl100kBase) })
	return codec, codecErr
}

// CountTokens counts s's tokens with the chunker's tokenizer.
func CountTokens(s string) int {
	c, err := tokens()
	if err != nil {
		return len(strings.Fields(s))
	}
	n, err := c.Count(s)
	if err != nil {
		return len(strings.Fields(s))
	}
	return n
}

// span is a block of the text: a paragraph, a heading line or a part of
// an oversized paragraph.
type span struct {
	start, end, tokens int
	heading            bool
}

// Chunk cuts text on heading and paragraph boundaries and packs the blocks
// into pieces of at most maxTokens tokens, each repeating up to overlap
// tokens of whole blocks from the end of the one before (never across a
// heading). A block larger than maxTokens is cut by lines, then by tokens.
func Chunk(text string, maxTokens, overlap int) ([]Piece, error) {
	if maxTokens <= 0 {
		return nil, fmt.Errorf("knowledge: max chunk tokens must be positive")
	}
	if overlap < 0 || overlap > maxTokens/2 {
		overlap = min(max(overlap, 0), maxTokens/2)
	}
	c, err := tokens()
	if err != nil {
		return nil, fmt.Errorf("knowledge: tokenizer: %w", err)
	}
	var spans []span
	for _, s := range blocks(text) {
		s.tokens, _ = c.Count(text[s.start:s.end])
		if s.tokens <= maxTokens {
			spans = append(spans, s)
			continue
		}
		spans = append(spans, splitSpan(c, text, s, maxTokens)...)
	}

	minBreak := min(maxTokens/4, 50)
	var (
		out    []Piece
		cur    []span
		curTok int
	)
	emit := func() {
		if len(cur) == 0 {
			return
		}
		st, en := cur[0].start, cur[len(cur)-1].end
		out = append(out, Piece{Text: text[st:en], Start: st, End: en, Tokens: curTok})
	}
	// keepOverlap keeps the trailing blocks of cur that fit in overlap,
	// never all of them (each piece must move forward).
	keepOverlap := func() {
		n, tok := 0, 0
		for i := len(cur) - 1; i > 0; i-- {
			if tok+cur[i].tokens > overlap {
				break
			}
			tok += cur[i].tokens
			n++
		}
		cur = append([]span(nil), cur[len(cur)-n:]...)
		curTok = tok
	}
	for _, s := range spans {
		if s.heading && curTok >= minBreak {
			emit()
			cur, curTok = nil, 0
		}
		if len(cur) > 0 && curTok+s.tokens > maxTokens {
			emit()
			keepOverlap()
			for len(cur) > 0 && curTok+s.tokens > maxTokens {
				curTok -= cur[0].tokens
				cur = cur[1:]
			}
		}
		cur = append(cur, s)
		curTok += s.tokens
	}
	emit()
	return out, nil
}

// blocks splits text into paragraphs (separated by blank lines) and
// heading lines ("# …"), each with its byte range, trimmed of blank edges.
func blocks(text string) []span {
	var out []span
	start := -1
	end := 0
	closePara := func() {
		if start >= 0 {
			out = append(out, span{start: start, end: end})
			start = -1
		}
	}
	for pos := 0; pos < len(text); {
		nl := strings.IndexByte(text[pos:], '\n')
		lineEnd := len(text)
		next := len(text)
		if nl >= 0 {
			lineEnd = pos + nl
			next = lineEnd + 1
		}
		line := text[pos:lineEnd]
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			closePara()
		case isHeading(trimmed):
			closePara()
			out = append(out, span{start: pos, end: lineEnd, heading: true})
		default:
			if start < 0 {
				start = pos
			}
			end = lineEnd
		}
		pos = next
	}
	closePara()
	return out
}

func isHeading(line string) bool {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	return n >= 1 && n <= 6 && n < len(line) && line[n] == ' '
}

// splitSpan cuts an oversized block by lines, and a line still too large
// by token windows.
func splitSpan(c tokenizer.Codec, text string, s span, maxTokens int) []span {
	var out []span
	pos := s.start
	for pos < s.end {
		nl := strings.IndexByte(text[pos:s.end], '\n')
		lineEnd := s.end
		if nl >= 0 {
			lineEnd = pos + nl + 1
		}
		n, _ := c.Count(text[pos:lineEnd])
		if n <= maxTokens {
			// Join lines while they fit.
			if k := len(out); k > 0 && !out[k-1].heading && out[k-1].end == pos && out[k-1].tokens+n <= maxTokens {
				out[k-1].end, out[k-1].tokens = lineEnd, out[k-1].tokens+n
			} else {
				out = append(out, span{start: pos, end: lineEnd, tokens: n})
			}
		} else {
			out = append(out, tokenWindows(c, text, pos, lineEnd, maxTokens)...)
		}
		pos = lineEnd
	}
	return out
}

// tokenWindows cuts text[start:end] into runs of at most maxTokens tokens
// (token strings concatenate to the input, so byte offsets add up).
func tokenWindows(c tokenizer.Codec, text string, start, end, maxTokens int) []span {
	_, toks, err := c.Encode(text[start:end])
	if err != nil {
		return []span{{start: start, end: end, tokens: maxTokens}}
	}
	var out []span
	pos := start
	for i := 0; i < len(toks); i += maxTokens {
		j := min(i+maxTokens, len(toks))
		n := 0
		for _, t := range toks[i:j] {
			n += len(t)
		}
		e := min(pos+n, end)
		if j == len(toks) {
			e = end
		}
		for e < end && !utf8.RuneStart(text[e]) {
			e++
		}
		out = append(out, span{start: pos, end: e, tokens: j - i})
		pos = e
	}
	return out
}
