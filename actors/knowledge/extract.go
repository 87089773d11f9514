package knowledge

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
	"golang.org/x/net/html"
)

// Error codes of a failed file (last_error.code).
const (
	CodeUnsupportedType  = "unsupported_type"
	CodeExtractionFailed = "extraction_failed"
	CodeEmbeddingFailed  = "embedding_failed"
	CodeInterrupted      = "interrupted"
	CodeFileMissing      = "file_missing"
	CodeTooLarge         = "too_large"
)

// FileError fails one file with a code and a message for its last_error.
type FileError struct {
	Code string
	Msg  string
}

func (e *FileError) Error() string { return e.Code + ": " + e.Msg }

func fileErr(code, format string, args ...any) *FileError {
	return &FileError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Kinds of document Extract reads.
const (
	kindText     = "text"
	kindMarkdown = "markdown"
	kindHTML     = "html"
	kindJSON     = "json"
	kindCSV      = "csv"
	kindPDF      = "pdf"
	kindDOCX     = "docx"
)

// docKind picks the extractor by extension first (uploads of Markdown and
// DOCX are sniffed as text/plain and application/zip), then by content type.
func docKind(contentType, name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".txt", ".text", ".log":
		return kindText
	case ".md", ".markdown", ".mdx":
		return kindMarkdown
	case ".html", ".htm", ".xhtml":
		return kindHTML
	case ".json":
		return kindJSON
	case ".csv", ".tsv":
		return kindCSV
	case ".pdf":
		return kindPDF
	case ".docx":
		return kindDOCX
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "text/plain":
		return kindText
	case "text/markdown", "text/x-markdown":
		return kindMarkdown
	case "text/html", "application/xhtml+xml":
		return kindHTML
	case "application/json":
		return kindJSON
	case "text/csv", "text/tab-separated-values":
		return kindCSV
	case "application/pdf":
		return kindPDF
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return kindDOCX
	}
	return ""
}

// Limits of extraction.
const (
	// maxExtractedBytes caps the text one file yields.
	maxExtractedBytes = 64 << 20
	// maxDocxXMLBytes caps the decompressed document.xml of a DOCX (a zip
	// bomb fails the file, not the host).
	maxDocxXMLBytes = 128 << 20
	// maxPDFPages caps the pages read from one PDF.
	maxPDFPages = 5000
)

// PageTimeout bounds the extraction of one PDF page.
var PageTimeout = 10 * time.Second

// Extract returns the text of a document: Markdown-like, with headings as
// "#" lines and paragraphs separated by blank lines. An unknown type is a
// FileError with CodeUnsupportedType; a document that does not parse, one
// with CodeExtractionFailed. A panic in a parser fails the file alone.
func Extract(ctx context.Context, contentType, name string, data []byte) (text string, err error) {
	kind := docKind(contentType, name)
	if kind == "" {
		return "", fileErr(CodeUnsupportedType, "files of type %q cannot be searched", contentType)
	}
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fileErr(CodeExtractionFailed, "the %s parser failed on this file", kind)
		}
	}()
	switch kind {
	case kindText, kindMarkdown, kindCSV:
		text, err = plainText(data)
	case kindJSON:
		text, err = jsonText(data)
	case kindHTML:
		text, err = htmlText(data)
	case kindPDF:
		text, err = pdfText(ctx, data)
	case kindDOCX:
		text, err = docxText(data)
	}
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return "", fe
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fileErr(CodeExtractionFailed, "%s: %v", kind, err)
	}
	if len(text) > maxExtractedBytes {
		return "", fileErr(CodeTooLarge, "the file's text is over %d MiB", maxExtractedBytes>>20)
	}
	return text, nil
}

func plainText(data []byte) (string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return "", errors.New("the text is not valid UTF-8")
	}
	return strings.ReplaceAll(string(data), "\r\n", "\n"), nil
}

func jsonText(data []byte) (string, error) {
	if !json.Valid(data) {
		return "", errors.New("not valid JSON")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// htmlText returns the visible text of an HTML document: headings as "#"
// lines, block elements as paragraphs, list items as "- " lines; script,
// style, template and head content are skipped.
func htmlText(data []byte) (string, error) {
	if !utf8.Valid(data) {
		return "", errors.New("the HTML is not valid UTF-8")
	}
	z := html.NewTokenizer(bytes.NewReader(data))
	var b strings.Builder
	skip := 0
	line := func() {
		s := b.String()
		if s != "" && !strings.HasSuffix(s, "\n\n") {
			if strings.HasSuffix(s, "\n") {
				b.WriteString("\n")
			} else {
				b.WriteString("\n\n")
			}
		}
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			if errors.Is(z.Err(), io.EOF) {
				return strings.TrimSpace(b.String()) + "\n", nil
			}
			return "", z.Err()
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch tag {
			case "script", "style", "template", "noscript", "head", "svg":
				skip++
			case "h1", "h2", "h3", "h4", "h5", "h6":
				line()
				b.WriteString(strings.Repeat("#", int(tag[1]-'0')) + " ")
			case "li":
				line()
				b.WriteString("- ")
			case "br":
				b.WriteString("\n")
			case "p", "div", "section", "article", "table", "tr", "pre", "blockquote", "ul", "ol", "header", "footer", "main", "nav", "dd", "dt":
				line()
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "template", "noscript", "head", "svg":
				if skip > 0 {
					skip--
				}
			case "h1", "h2", "h3", "h4", "h5", "h6", "p", "div", "li", "tr", "pre", "blockquote", "section", "article":
				line()
			case "td", "th":
				b.WriteString(" ")
			}
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := strings.Join(strings.Fields(string(z.Text())), " ")
			if t == "" {
				continue
			}
			s := b.String()
			if s != "" && !strings.HasSuffix(s, " ") && !strings.HasSuffix(s, "\n") {
				b.WriteString(" ")
			}
			b.WriteString(t)
		}
	}
}

// pdfText reads a PDF's text layer page by page; each page runs under
// PageTimeout, so that a page crafted to make the parser spin fails the
// file instead of holding a worker.
func pdfText(ctx context.Context, data []byte) (string, error) {
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	n := r.NumPage()
	if n > maxPDFPages {
		return "", fileErr(CodeTooLarge, "the PDF has %d pages, over %d", n, maxPDFPages)
	}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		text, err := pdfPage(ctx, r, i)
		if err != nil {
			return "", err
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(text)
		if b.Len() > maxExtractedBytes {
			break
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", errors.New("the PDF has no text layer")
	}
	return b.String() + "\n", nil
}

// pdfPage extracts one page in a goroutine of its own so that the time
// limit holds even if the parser does not return; a parser that never
// returns keeps its goroutine, but not the worker.
func pdfPage(ctx context.Context, r *pdf.Reader, i int) (string, error) {
	type result struct {
		text string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: fmt.Errorf("page %d does not parse", i)}
			}
		}()
		p := r.Page(i)
		if p.V.IsNull() {
			ch <- result{}
			return
		}
		t, err := p.GetPlainText(nil)
		ch <- result{t, err}
	}()
	timer := time.NewTimer(PageTimeout)
	defer timer.Stop()
	select {
	case res := <-ch:
		if res.err != nil {
			return "", fmt.Errorf("page %d: %w", i, res.err)
		}
		return res.text, nil
	case <-timer.C:
		return "", fmt.Errorf("page %d took longer than %s", i, PageTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// docxText reads word/document.xml of a DOCX: paragraphs (w:p) with their
// runs' text (w:t), tabs and breaks; paragraphs styled Heading N or Title
// become "#" lines.
func docxText(data []byte) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", fmt.Errorf("not a DOCX (zip) file: %w", err)
	}
	var doc *zip.File
	for _, f := range zr.File {
		if f.Name == "word/document.xml" {
			doc = f
		}
	}
	if doc == nil {
		return "", errors.New("no word/document.xml in the DOCX")
	}
	// A zip bomb that declares its size fails here, before anything is
	// inflated; one that lies is cut by the limit below (and archive/zip
	// refuses data past the declared size).
	if doc.UncompressedSize64 > maxDocxXMLBytes {
		return "", fileErr(CodeTooLarge, "the DOCX's text is over %d MiB", maxDocxXMLBytes>>20)
	}
	rc, err := doc.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	lr := &io.LimitedReader{R: rc, N: maxDocxXMLBytes + 1}
	dec := xml.NewDecoder(lr)
	var b, para strings.Builder
	heading := 0
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lr.N <= 0 {
				return "", fileErr(CodeTooLarge, "the DOCX's text is over %d MiB", maxDocxXMLBytes>>20)
			}
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "p":
				para.Reset()
				heading = 0
			case "pStyle":
				for _, a := range t.Attr {
					if a.Name.Local == "val" {
						heading = headingLevel(a.Value)
					}
				}
			case "t":
				inText = true
			case "tab":
				para.WriteString("\t")
			case "br", "cr":
				para.WriteString("\n")
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				s := strings.TrimSpace(para.String())
				if s == "" {
					continue
				}
				if heading > 0 {
					s = strings.Repeat("#", heading) + " " + s
				}
				b.WriteString(s)
				b.WriteString("\n\n")
			}
		case xml.CharData:
			if inText {
				para.Write(t)
			}
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", errors.New("the DOCX has no text")
	}
	return b.String(), nil
}

// headingLevel maps a Word paragraph style to a heading level (0: none).
func headingLevel(style string) int {
	s := strings.ToLower(style)
	if s == "title" {
		return 1
	}
	if rest, ok := strings.CutPrefix(s, "heading"); ok {
		if len(rest) == 1 && rest[0] >= '1' && rest[0] <= '6' {
			return int(rest[0] - '0')
		}
	}
	return 0
}
