package knowledge_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/knowledge"
	"github.com/seshat-host/seshat/actors/knowledge/knowledgetest"
)

func TestExtractKinds(t *testing.T) {
	ctx := t.Context()
	pdfText, err := knowledge.Extract(ctx, "application/pdf", "a.pdf", knowledgetest.PDF("Quarterly revenue grew", "Second page about otters"))
	require.NoError(t, err)
	require.Contains(t, pdfText, "Quarterly revenue grew")
	require.Contains(t, pdfText, "otters")

	docx, err := knowledge.Extract(ctx, "application/zip", "b.docx", knowledgetest.DOCX("# Overview", "The falcon flies at dawn."))
	require.NoError(t, err)
	require.Equal(t, "# Overview\n\nThe falcon flies at dawn.\n\n", docx)

	html, err := knowledge.Extract(ctx, "text/html; charset=utf-8", "c.html",
		[]byte(`<html><head><title>t</title><style>p{}</style></head><body><h2>Setup</h2><p>Run <b>make</b> first.</p><script>evil()</script></body></html>`))
	require.NoError(t, err)
	require.Equal(t, "## Setup\n\nRun make first.\n", html)
	require.NotContains(t, html, "evil")

	js, err := knowledge.Extract(ctx, "application/json", "d.json", []byte(`{"a":[1,2]}`))
	require.NoError(t, err)
	require.Contains(t, js, "\"a\": [")

	_, err = knowledge.Extract(ctx, "image/png", "e.png", []byte{0x89, 'P', 'N', 'G'})
	var fe *knowledge.FileError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, knowledge.CodeUnsupportedType, fe.Code)

	_, err = knowledge.Extract(ctx, "application/pdf", "bad.pdf", []byte("%PDF-1.4 not really"))
	require.ErrorAs(t, err, &fe)
	require.Equal(t, knowledge.CodeExtractionFailed, fe.Code)

	_, err = knowledge.Extract(ctx, "", "bad.docx", []byte("PK not a zip"))
	require.ErrorAs(t, err, &fe)
	require.Equal(t, knowledge.CodeExtractionFailed, fe.Code)
}

func TestChunkFollowsHeadingsAndOverlaps(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Intro\n\nShort intro paragraph about the system.\n\n# Details\n\n")
	for i := range 40 {
		b.WriteString(strings.Repeat("word ", 20))
		b.WriteString("end of paragraph ")
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(".\n\n")
	}
	text := b.String()
	pieces, err := knowledge.Chunk(text, 100, 40)
	require.NoError(t, err)
	require.Greater(t, len(pieces), 5)
	for i, p := range pieces {
		require.Equal(t, text[p.Start:p.End], p.Text)
		require.LessOrEqual(t, p.Tokens, 100, "piece %d", i)
		if i > 0 {
			require.Greater(t, p.Start, pieces[i-1].Start, "each piece moves forward")
		}
	}
	require.True(t, strings.HasPrefix(pieces[1].Text, "# Details") || strings.HasPrefix(pieces[0].Text, "# Intro"))
	// Consecutive pieces of the long section overlap.
	require.Less(t, pieces[3].Start, pieces[2].End)

	// One huge line is cut by tokens.
	huge := strings.Repeat("x", 5000)
	pieces, err = knowledge.Chunk(huge, 100, 0)
	require.NoError(t, err)
	require.Greater(t, len(pieces), 1)
	require.Equal(t, len(huge), pieces[len(pieces)-1].End)
}
