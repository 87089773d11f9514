package persist_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/seshat-host/seshat/persist"
)

// referenceTokenize is the tokenizer's definition, rune by rune: runs of
// letters, digits and marks of two runes or more, lower-cased, cut to 64
// bytes at a rune boundary.
func referenceTokenize(text string) []string {
	isWord := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) }
	var out []string
	for len(text) > 0 {
		start := strings.IndexFunc(text, isWord)
		if start < 0 {
			break
		}
		text = text[start:]
		end := strings.IndexFunc(text, func(r rune) bool { return !isWord(r) })
		if end < 0 {
			end = len(text)
		}
		word := text[:end]
		text = text[end:]
		if utf8.RuneCountInString(word) < 2 {
			continue
		}
		term := strings.ToLower(word)
		if len(term) > 64 {
			cut := 64
			for cut > 0 && !utf8.RuneStart(term[cut]) {
				cut--
			}
			term = term[:cut]
		}
		out = append(out, term)
	}
	return out
}

var tokenizeSeeds = []string{
	"", "a", "ab", "Hello, World! 42 x y1 Zürich naïve İstanbul ΑΘΗΝΑ 日本語 テスト",
	"e\u0301te\u0301 caf\u00e9 \u0301\u0301 a\u0301", "bad \xff\xfe utf8 ab\xffcd", "tab\tnew\nline_under-score",
	strings.Repeat("Ab", 40) + " " + strings.Repeat("é", 40) + " " + strings.Repeat("x", 63) + "é",
	"ǅungla ǈ ⅷ ½ ١٢٣ ０１２ ＡＢＣ", "MIXED case Words and-dashes",
}

func TestTokenizeAsDefined(t *testing.T) {
	for _, s := range tokenizeSeeds {
		if got, want := persist.Tokenize(s), referenceTokenize(s); !slices.Equal(got, want) {
			t.Errorf("Tokenize(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range tokenizeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := persist.Tokenize(s), referenceTokenize(s); !slices.Equal(got, want) {
			t.Errorf("Tokenize(%q) = %q, want %q", s, got, want)
		}
	})
}

// BenchmarkTokenize measures the tokenizer on a turn's text.
func BenchmarkTokenize(b *testing.B) {
	text := strings.Repeat("Hello from the mock upstream, here is a word of the answer: 42 items. ", 8)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		persist.Tokenize(text)
	}
}
