package scenario

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/seshat-host/seshat/bench/report"
	"github.com/seshat-host/seshat/http/apitype"
)

// KnowledgeConfig shapes the knowledge scenario.
type KnowledgeConfig struct {
	// IngestFiles is how many files of each kind (text, HTML, PDF) the
	// ingestion throughput is measured over. If zero, 40.
	IngestFiles int
	// Queries caps the known-item queries of the retrieval quality step.
	// If zero, 1,000.
	Queries int
	// Levels are the corpus sizes, in chunks, at which search is timed. If
	// nil, 10,000 and 100,000.
	Levels []int
	// Samples is how many searches per ranker are timed at each level,
	// and how many streamed queries with and without a corpus are timed
	// for the time to first token. If zero, 200.
	Samples int
	// KillFiles is how many files are being ingested when the server is
	// killed (spawned servers only). If zero, 40.
	KillFiles int
	// Seed makes the queries and the synthetic text; 0 is seed 1.
	Seed uint64
}

func (c KnowledgeConfig) withDefaults() KnowledgeConfig {
	if c.IngestFiles <= 0 {
		c.IngestFiles = 40
	}
	if c.Queries <= 0 {
		c.Queries = 1000
	}
	if c.Levels == nil {
		c.Levels = []int{10_000, 100_000}
	}
	if c.Samples <= 0 {
		c.Samples = 200
	}
	if c.KillFiles <= 0 {
		c.KillFiles = 40
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// rankers are the rankers compared.
var rankers = []string{"bm25", "vector", "hybrid"}

// runKnowledge measures ingestion throughput, retrieval quality on a
// known-item set, search latency by corpus size, the time to first token
// a corpus adds to a query, and a kill during ingestion.
func (s *Suite) runKnowledge(ctx context.Context) report.Result {
	cfg := s.Config.Knowledge.withDefaults()
	res := report.Result{Scenario: Knowledge, Status: report.StatusOK, Params: map[string]string{
		"ingest_files": strconv.Itoa(cfg.IngestFiles), "queries": strconv.Itoa(cfg.Queries),
		"samples": strconv.Itoa(cfg.Samples), "seed": strconv.FormatUint(cfg.Seed, 10), "embedder": "builtin",
	}}
	t, err := s.Harness.startHost(ctx, Knowledge, nil)
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()
	k := &knowledgeRun{s: s, t: t, cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, 11))}

	docs, err := goDocs()
	if err != nil {
		return failed(res, fmt.Errorf("read the Go standard library's doc comments: %w", err))
	}
	for _, kind := range []string{"text", "html", "pdf"} {
		st, err := k.ingest(ctx, kind, docs)
		if err != nil {
			return failed(res, fmt.Errorf("ingest %s: %w", kind, err))
		}
		res.Steps = append(res.Steps, st)
	}
	steps, corpusID, err := k.quality(ctx, docs)
	if err != nil {
		return failed(res, fmt.Errorf("retrieval quality: %w", err))
	}
	res.Steps = append(res.Steps, steps...)
	st, err := k.ttft(ctx, corpusID)
	if err != nil {
		return failed(res, fmt.Errorf("time to first token: %w", err))
	}
	res.Steps = append(res.Steps, st)
	lv, err := k.levels(ctx, docs)
	if err != nil {
		return failed(res, fmt.Errorf("search latency: %w", err))
	}
	res.Steps = append(res.Steps, lv...)
	if !s.Harness.Spawned() {
		res.Note = "kill during ingestion skipped: it needs -spawn"
		return res
	}
	st, err = k.kill(ctx, docs)
	if err != nil {
		return failed(res, fmt.Errorf("kill during ingestion: %w", err))
	}
	res.Steps = append(res.Steps, st)
	return res
}

type knowledgeRun struct {
	s   *Suite
	t   *target
	cfg KnowledgeConfig
	r   *rand.Rand
}

// goDoc is one documented declaration of the Go standard library.
type goDoc struct {
	pkg, ident, text string
}

// goDocs reads the doc comments of the standard library's exported
// declarations under GOROOT: text every machine with Go has.
func goDocs() ([]goDoc, error) {
	var root string
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		root = strings.TrimSpace(string(out))
	}
	if root == "" {
		return nil, errors.New("no GOROOT")
	}
	src := filepath.Join(root, "src")
	var docs []goDoc
	fset := token.NewFileSet()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == "testdata" || name == "internal" || name == "vendor" || name == "cmd" || strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(src, filepath.Dir(path))
		add := func(ident string, doc *ast.CommentGroup) {
			if doc == nil || !ast.IsExported(ident) {
				return
			}
			if text := strings.TrimSpace(doc.Text()); len(strings.Fields(text)) >= 8 {
				docs = append(docs, goDoc{pkg: filepath.ToSlash(rel), ident: ident, text: text})
			}
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					add(d.Name.Name, d.Doc)
				}
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					if ts, ok := sp.(*ast.TypeSpec); ok {
						doc := ts.Doc
						if doc == nil && len(d.Specs) == 1 {
							doc = d.Doc
						}
						add(ts.Name.Name, doc)
					}
				}
			}
		}
		return nil
	})
	if len(docs) == 0 && err == nil {
		err = fmt.Errorf("no doc comments under %s", src)
	}
	return docs, err
}

// docFile is one generated file: the sections of one package.
type docFile struct {
	name string
	body string
	// spans maps a section (index into the docs) to its first sentence's
	// byte range in body.
	spans map[int][2]int
}

// packageFiles groups docs into one Markdown file per package.
func packageFiles(docs []goDoc) []docFile {
	var files []docFile
	byPkg := map[string]int{}
	for i, d := range docs {
		j, ok := byPkg[d.pkg]
		if !ok {
			j = len(files)
			byPkg[d.pkg] = j
			files = append(files, docFile{name: strings.ReplaceAll(d.pkg, "/", "_") + ".md", body: "# package " + d.pkg + "\n\n", spans: map[int][2]int{}})
		}
		f := &files[j]
		f.body += "## " + d.ident + "\n\n"
		start := len(f.body)
		f.body += d.text + "\n\n"
		f.spans[i] = [2]int{start, start + len(firstSentence(d.text))}
	}
	return files
}

func firstSentence(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && (s[i+1] == ' ' || s[i+1] == '\n') {
			return s[:i+1]
		}
	}
	return s
}

// upload stores a workspace file and returns its id.
func (k *knowledgeRun) upload(ctx context.Context, name, ctype string, data []byte) (string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", ctype)
	part, err := mw.CreatePart(h)
	if err != nil {
		return "", err
	}
	_, _ = part.Write(data)
	if err := mw.Close(); err != nil {
		return "", err
	}
	ctl := k.t.ctl
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ctl.base+"/api/v1/files", &buf)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+ctl.key)
	resp, err := ctl.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", statusError(resp.StatusCode, b)
	}
	var f apitype.File
	return f.ID, json.Unmarshal(b, &f)
}

// uploadAll uploads files with 8 clients and returns their ids in order.
func (k *knowledgeRun) uploadAll(ctx context.Context, names []string, ctype string, bodies [][]byte) ([]string, error) {
	ids := make([]string, len(names))
	err := parallel(ctx, len(names), 8, func(ctx context.Context, i int) error {
		id, err := k.upload(ctx, names[i], ctype, bodies[i])
		ids[i] = id
		return err
	})
	return ids, err
}

// corpus creates a corpus with a chunking strategy.
func (k *knowledgeRun) corpus(ctx context.Context, name string, maxTokens, overlap int) (string, error) {
	var c apitype.Corpus
	err := k.t.ctl.call(ctx, http.MethodPost, "/api/v1/corpora", apitype.CreateCorpusRequest{Name: name,
		ChunkingStrategy: &apitype.ChunkingStrategyRequest{MaxChunkSizeTokens: &maxTokens, ChunkOverlapTokens: &overlap}}, &c, http.StatusCreated)
	return c.ID, err
}

// addFiles adds files to a corpus in batches of at most 1,000.
func (k *knowledgeRun) addFiles(ctx context.Context, corpusID string, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if err := k.t.ctl.call(ctx, http.MethodPost, "/api/v1/corpora/"+corpusID+"/files", apitype.AddCorpusFilesRequest{FileIDs: ids[:n]}, nil, http.StatusAccepted); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// settle polls the corpus until none of its files is in progress.
func (k *knowledgeRun) settle(ctx context.Context, corpusID string, limit time.Duration) (apitype.Corpus, error) {
	deadline := time.Now().Add(limit)
	for {
		var c apitype.Corpus
		if err := k.t.ctl.call(ctx, http.MethodGet, "/api/v1/corpora/"+corpusID, nil, &c, http.StatusOK); err != nil {
			return c, err
		}
		if c.FileCounts.InProgress == 0 {
			return c, nil
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("%d files still in progress after %s", c.FileCounts.InProgress, limit)
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ingest times the ingestion of IngestFiles files of one kind, end to end
// from the add request to the last file done.
func (k *knowledgeRun) ingest(ctx context.Context, kind string, docs []goDoc) (report.Step, error) {
	n := k.cfg.IngestFiles
	per := max(1, len(docs)/n)
	names, bodies := make([]string, n), make([][]byte, n)
	var total int64
	ctype := map[string]string{"text": "text/markdown", "html": "text/html", "pdf": "application/pdf"}[kind]
	for i := range n {
		part := docs[(i*per)%len(docs) : min(len(docs), (i*per)%len(docs)+per)]
		switch kind {
		case "text":
			names[i], bodies[i] = fmt.Sprintf("doc%03d.md", i), []byte(markdownOf(part))
		case "html":
			names[i], bodies[i] = fmt.Sprintf("doc%03d.html", i), []byte(htmlOf(part))
		case "pdf":
			names[i], bodies[i] = fmt.Sprintf("doc%03d.pdf", i), pdfOf(part)
		}
		total += int64(len(bodies[i]))
	}
	ids, err := k.uploadAll(ctx, names, ctype, bodies)
	if err != nil {
		return report.Step{}, err
	}
	corpusID, err := k.corpus(ctx, "ingest-"+kind, 800, 400)
	if err != nil {
		return report.Step{}, err
	}
	prog := k.s.Harness.progress()
	prog.Begin("knowledge: ingest "+kind, 0)
	start := time.Now()
	if err := k.addFiles(ctx, corpusID, ids); err != nil {
		prog.End()
		return report.Step{}, err
	}
	c, err := k.settle(ctx, corpusID, 10*time.Minute)
	took := time.Since(start)
	prog.End()
	if err != nil {
		return report.Step{}, err
	}
	sec := took.Seconds()
	return report.Step{Name: "ingest " + kind, Count: int64(n), Seconds: sec, Rate: float64(c.ChunkCount) / sec, Values: []report.Value{
		{Name: "mb_per_s", Value: float64(total) / (1 << 20) / sec, Unit: "MB/s"},
		{Name: "chunks_per_s", Value: float64(c.ChunkCount) / sec, Unit: "chunks/s"},
		{Name: "bytes", Value: float64(total), Unit: "B"},
		{Name: "chunks", Value: float64(c.ChunkCount), Unit: ""},
		{Name: "failed_files", Value: float64(c.FileCounts.Failed), Unit: ""},
	}}, nil
}

func markdownOf(docs []goDoc) string {
	var b strings.Builder
	for _, d := range docs {
		b.WriteString("## " + d.ident + "\n\n" + d.text + "\n\n")
	}
	return b.String()
}

func htmlOf(docs []goDoc) string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><title>Go docs</title><style>body{font:14px sans-serif}</style>` +
		`<script>window.analytics = function () { return 42; };</script></head><body><nav><a href="/">Home</a></nav><main>`)
	for _, d := range docs {
		b.WriteString("<h2>" + htmlEscape(d.ident) + "</h2>")
		for _, p := range strings.Split(d.text, "\n\n") {
			b.WriteString("<p>" + htmlEscape(p) + "</p>")
		}
	}
	b.WriteString("</main><footer>Generated for the bench.</footer></body></html>")
	return b.String()
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// pdfOf makes a PDF with a text layer: about 45 lines of text a page.
func pdfOf(docs []goDoc) []byte {
	var lines []string
	for _, d := range docs {
		lines = append(lines, d.ident)
		for _, para := range strings.Split(d.text, "\n\n") {
			words := strings.Fields(para)
			for len(words) > 0 {
				n := min(len(words), 12)
				lines = append(lines, strings.Join(words[:n], " "))
				words = words[n:]
			}
		}
		lines = append(lines, "")
	}
	var pages []string
	for len(lines) > 0 {
		n := min(len(lines), 45)
		pages = append(pages, strings.Join(lines[:n], "\n"))
		lines = lines[n:]
	}
	return makePDF(pages)
}

// makePDF writes a valid PDF, one page per entry, with Helvetica text.
func makePDF(pages []string) []byte {
	ascii := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r < 32 || r > 126 {
				return ' '
			}
			return r
		}, s)
	}
	n := len(pages)
	kids := make([]string, n)
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 4+2*i)
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	}
	for i, text := range pages {
		var cs strings.Builder
		cs.WriteString("BT /F1 10 Tf 50 760 Td 15 TL\n")
		for _, line := range strings.Split(text, "\n") {
			cs.WriteString("(" + strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(ascii(line)) + ") Tj T*\n")
		}
		cs.WriteString("ET")
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 5+2*i),
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", cs.Len(), cs.String()))
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// knownItem is one query of the quality set and where its answer is.
type knownItem struct {
	query  string
	fileID string
	span   [2]int
}

// quality builds the known-item set: every documented declaration's
// first sentence, its identifier removed and 30 % of its words dropped,
// is a query whose target is the chunk holding that sentence. It reports
// recall@10, MRR (over the top 20) and the top-20 failure rate per ranker,
// and returns the corpus for the later steps.
func (k *knowledgeRun) quality(ctx context.Context, docs []goDoc) ([]report.Step, string, error) {
	files := packageFiles(docs)
	names, bodies := make([]string, len(files)), make([][]byte, len(files))
	for i, f := range files {
		names[i], bodies[i] = f.name, []byte(f.body)
	}
	prog := k.s.Harness.progress()
	prog.Begin("knowledge: known-item corpus", 0)
	ids, err := k.uploadAll(ctx, names, "text/markdown", bodies)
	if err != nil {
		prog.End()
		return nil, "", err
	}
	corpusID, err := k.corpus(ctx, "go-docs", 200, 40)
	if err == nil {
		err = k.addFiles(ctx, corpusID, ids)
	}
	var c apitype.Corpus
	if err == nil {
		c, err = k.settle(ctx, corpusID, 10*time.Minute)
	}
	prog.End()
	if err != nil {
		return nil, "", err
	}
	var items []knownItem
	for fi, f := range files {
		for di, span := range f.spans {
			if q := knownItemQuery(k.r, firstSentence(docs[di].text), docs[di].ident); q != "" {
				items = append(items, knownItem{query: q, fileID: ids[fi], span: span})
			}
		}
	}
	slices.SortFunc(items, func(a, b knownItem) int { return strings.Compare(a.query, b.query) })
	k.r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	items = items[:min(len(items), k.cfg.Queries)]

	var steps []report.Step
	prog.Begin("knowledge: known-item queries", int64(len(items)*len(rankers)))
	defer prog.End()
	for _, ranker := range rankers {
		var found10, fail20 int
		var rr float64
		var lat []time.Duration
		for _, it := range items {
			start := time.Now()
			var out apitype.SearchCorpusResponse
			if err := k.t.ctl.call(ctx, http.MethodPost, "/api/v1/corpora/"+corpusID+"/search",
				apitype.SearchCorpusRequest{Query: it.query, Ranker: ranker, MaxNumResults: 20}, &out, http.StatusOK); err != nil {
				return nil, "", err
			}
			lat = append(lat, time.Since(start))
			prog.Add(1)
			rank := slices.IndexFunc(out.Data, func(h apitype.SearchHit) bool {
				return h.FileID == it.fileID && h.Start <= it.span[0] && it.span[0] < h.End
			})
			switch {
			case rank < 0:
				fail20++
			default:
				rr += 1 / float64(rank+1)
				if rank < 10 {
					found10++
				}
			}
		}
		q := float64(max(len(items), 1))
		steps = append(steps, report.Step{Name: "known items " + ranker, Level: float64(c.ChunkCount), Count: int64(len(items)),
			Latency: []report.Latency{{Name: "search", Summary: report.Summarize(lat)}},
			Values: []report.Value{
				{Name: "recall_at_10", Value: float64(found10) / q, Unit: "ratio"},
				{Name: "mrr", Value: rr / q, Unit: ""},
				{Name: "top20_failure_rate", Value: float64(fail20) / q, Unit: "ratio"},
				{Name: "chunks", Value: float64(c.ChunkCount), Unit: ""},
			}})
	}
	return steps, corpusID, nil
}

// knownItemQuery is a sentence without its identifier and with 30 % of its
// words dropped; "" when too few words are left.
func knownItemQuery(r *rand.Rand, sentence, ident string) string {
	var words []string
	for _, w := range strings.Fields(sentence) {
		bare := strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if bare == "" || strings.EqualFold(bare, ident) {
			continue
		}
		words = append(words, w)
	}
	drop := int(float64(len(words))*0.3 + 0.5)
	for range drop {
		i := r.IntN(len(words))
		words = append(words[:i], words[i+1:]...)
	}
	if len(words) < 5 {
		return ""
	}
	return strings.Join(words, " ")
}

// levels fills a corpus of synthetic paragraphs (words of the Go docs,
// one chunk each) to each level and times searches of each ranker there.
func (k *knowledgeRun) levels(ctx context.Context, docs []goDoc) ([]report.Step, error) {
	var vocab []string
	seen := map[string]bool{}
	for _, d := range docs {
		for _, w := range strings.Fields(strings.ToLower(d.text)) {
			w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) })
			if len(w) > 2 && !seen[w] {
				seen[w] = true
				vocab = append(vocab, w)
			}
		}
	}
	corpusID, err := k.corpus(ctx, "scale", 100, 0)
	if err != nil {
		return nil, err
	}
	// Words are drawn with a skew, as in real text: early words are common.
	word := func() string { return vocab[int(float64(len(vocab))*k.r.Float64()*k.r.Float64())] }
	paragraph := func() string {
		ws := make([]string, 45)
		for i := range ws {
			ws[i] = word()
		}
		return strings.Join(ws, " ") + "."
	}
	const perFile = 500
	have := 0
	var fillBytes int64
	var fillTook time.Duration
	var steps []report.Step
	prog := k.s.Harness.progress()
	for _, level := range k.cfg.Levels {
		nf := (level - have + perFile - 1) / perFile
		if nf > 0 {
			names, bodies := make([]string, nf), make([][]byte, nf)
			for i := range nf {
				var b strings.Builder
				for range perFile {
					b.WriteString(paragraph() + "\n\n")
				}
				names[i], bodies[i] = fmt.Sprintf("scale-%d-%d.txt", level, i), []byte(b.String())
				fillBytes += int64(len(bodies[i]))
			}
			prog.Begin(fmt.Sprintf("knowledge: fill to %d chunks", level), 0)
			ids, err := k.uploadAll(ctx, names, "text/plain", bodies)
			start := time.Now()
			if err == nil {
				err = k.addFiles(ctx, corpusID, ids)
			}
			var c apitype.Corpus
			if err == nil {
				c, err = k.settle(ctx, corpusID, 30*time.Minute)
			}
			fillTook += time.Since(start)
			prog.End()
			if err != nil {
				return nil, err
			}
			have = c.ChunkCount
		}
		st := report.Step{Name: fmt.Sprintf("search at %s chunks", report.FormatCount(int64(have))), Level: float64(have), Count: int64(k.cfg.Samples)}
		prog.Begin(fmt.Sprintf("knowledge: search at %d chunks", have), int64(k.cfg.Samples*len(rankers)))
		for _, ranker := range rankers {
			lat := make([]time.Duration, 0, k.cfg.Samples)
			// A first search loads the index; it is not timed.
			if err := k.t.ctl.call(ctx, http.MethodPost, "/api/v1/corpora/"+corpusID+"/search", apitype.SearchCorpusRequest{Query: word(), Ranker: ranker}, nil, http.StatusOK); err != nil {
				prog.End()
				return nil, err
			}
			for range k.cfg.Samples {
				q := word() + " " + word() + " " + word()
				start := time.Now()
				if err := k.t.ctl.call(ctx, http.MethodPost, "/api/v1/corpora/"+corpusID+"/search", apitype.SearchCorpusRequest{Query: q, Ranker: ranker}, nil, http.StatusOK); err != nil {
					prog.End()
					return nil, err
				}
				lat = append(lat, time.Since(start))
				prog.Add(1)
			}
			sum := report.Summarize(lat)
			st.Latency = append(st.Latency, report.Latency{Name: ranker, Summary: sum})
			st.Values = append(st.Values, report.Value{Name: ranker + "_p99", Value: ms(sum.P99), Unit: "ms"})
		}
		prog.End()
		if sec := fillTook.Seconds(); sec > 0 {
			// The ingestion of the whole corpus so far, 500 paragraphs a file.
			st.Values = append(st.Values,
				report.Value{Name: "fill_mb_per_s", Value: float64(fillBytes) / (1 << 20) / sec, Unit: "MB/s"},
				report.Value{Name: "fill_chunks_per_s", Value: float64(have) / sec, Unit: "chunks/s"})
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// ttft times the first text of streamed mock turns with and without a
// corpus: the difference is what retrieval adds before the model call.
func (k *knowledgeRun) ttft(ctx context.Context, corpusID string) (report.Step, error) {
	prog := k.s.Harness.progress()
	prog.Begin("knowledge: time to first token", int64(2*k.cfg.Samples))
	defer prog.End()
	var with, without []time.Duration
	prompts := []string{"how do I parse a duration string", "close the connection when the context is done",
		"read all bytes from a reader until EOF", "format a floating point number with precision"}
	for i := range 2 * k.cfg.Samples {
		q := apitype.QueryRequest{Model: mockModel, Prompt: prompts[i%len(prompts)] + "\n@say ok"}
		if i%2 == 0 {
			q.CorpusID = corpusID
		}
		d, err := k.firstText(ctx, q)
		if err != nil {
			return report.Step{}, err
		}
		if i%2 == 0 {
			with = append(with, d)
		} else {
			without = append(without, d)
		}
		prog.Add(1)
	}
	w, wo := report.Summarize(with), report.Summarize(without)
	return report.Step{Name: "time to first token", Count: int64(len(with) + len(without)),
		Latency: []report.Latency{{Name: "with_corpus", Summary: w}, {Name: "without_corpus", Summary: wo}},
		Values: []report.Value{
			{Name: "added_p50", Value: ms(w.P50 - wo.P50), Unit: "ms"},
			{Name: "added_p99", Value: ms(w.P99 - wo.P99), Unit: "ms"},
		}}, nil
}

// firstText streams a query and returns the time to its first text.
func (k *knowledgeRun) firstText(ctx context.Context, q apitype.QueryRequest) (time.Duration, error) {
	ctl := k.t.ctl
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ctl.base+"/api/v1/query/stream", bytes.NewReader(JSON(q)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ctl.key)
	start := time.Now()
	resp, err := ctl.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return 0, statusError(resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	var first time.Duration
	for sc.Scan() {
		line := sc.Text()
		if first == 0 && strings.HasPrefix(line, `data: {"type":"text_delta"`) {
			first = time.Since(start)
		}
	}
	if first == 0 {
		return 0, errors.New("the stream carried no text")
	}
	return first, sc.Err()
}

// kill adds KillFiles files, kills the server (SIGKILL) while they are
// being ingested, restarts it and waits: no file may be left in progress.
func (k *knowledgeRun) kill(ctx context.Context, docs []goDoc) (report.Step, error) {
	n := k.cfg.KillFiles
	names, bodies := make([]string, n), make([][]byte, n)
	for i := range n {
		var b strings.Builder
		for j := range 200 {
			d := docs[(i*200+j)%len(docs)]
			b.WriteString("## " + d.ident + "\n\n" + d.text + "\n\n")
		}
		names[i], bodies[i] = fmt.Sprintf("kill%03d.md", i), []byte(b.String())
	}
	ids, err := k.uploadAll(ctx, names, "text/markdown", bodies)
	if err != nil {
		return report.Step{}, err
	}
	corpusID, err := k.corpus(ctx, "kill", 200, 40)
	if err != nil {
		return report.Step{}, err
	}
	if err := k.addFiles(ctx, corpusID, ids); err != nil {
		return report.Step{}, err
	}
	// Kill once some files are done and others still in progress.
	var before apitype.Corpus
	for {
		if err := k.t.ctl.call(ctx, http.MethodGet, "/api/v1/corpora/"+corpusID, nil, &before, http.StatusOK); err != nil {
			return report.Step{}, err
		}
		if before.FileCounts.Completed > 0 || before.FileCounts.InProgress == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return report.Step{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := k.t.proc.kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return report.Step{}, err
	}
	k.t.proc = nil
	start := time.Now()
	p, err := startProcess(ctx, k.t.argv, k.t.env, k.t.logPath)
	if err != nil {
		return report.Step{}, err
	}
	k.t.proc, k.t.addr, k.t.pid = p, p.addr, p.cmd.Process.Pid
	k.t.ctl = newControl(k.t.addr, k.t.key)
	if k.t.cl, err = NewClient(k.t.addr, k.t.sources); err != nil {
		return report.Step{}, err
	}
	c, err := k.settle(ctx, corpusID, 10*time.Minute)
	if err != nil {
		return report.Step{}, err
	}
	return report.Step{Name: "kill during ingestion", Count: int64(n), Values: []report.Value{
		{Name: "in_progress_at_kill", Value: float64(before.FileCounts.InProgress), Unit: "files"},
		{Name: "in_progress_after_restart", Value: float64(c.FileCounts.InProgress), Unit: "files"},
		{Name: "completed", Value: float64(c.FileCounts.Completed), Unit: "files"},
		{Name: "failed", Value: float64(c.FileCounts.Failed), Unit: "files"},
		{Name: "settled_after_restart", Value: ms(time.Since(start)), Unit: "ms"},
	}}, nil
}
