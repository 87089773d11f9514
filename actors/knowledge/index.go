package knowledge

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/mapping"
	bleveindex "github.com/blevesearch/bleve_index_api"
	"github.com/viterin/vek/vek32"

	"github.com/seshat-host/seshat/persist"
)

// rrfK is the reciprocal rank fusion constant.
const rrfK = 60

// genKey is the bleve internal key holding the corpus generation the
// lexical index reflects.
var genKey = []byte("seshat_gen")

// hit is one ranked chunk.
type hit struct {
	id    string
	score float64
}

// corpusIndex is the search state of one corpus: its lexical index on
// disk and its vectors in memory. mu orders every change to the corpus's
// chunks (store commit, then index) so that the generation the lexical
// index records is exactly the one it holds.
type corpusIndex struct {
	mu       sync.RWMutex
	corpusID string
	dir      string

	lex    bleve.Index
	lexGen uint64

	vecLoaded bool
	vecGen    uint64
	dim       int
	ids       []string
	mat       []float32
}

// leanMapping indexes one text field for BM25, storing nothing else: no
// stored fields, no term vectors, no doc values, no _all field.
func leanMapping() mapping.IndexMapping {
	im := bleve.NewIndexMapping()
	im.ScoringModel = bleveindex.BM25Scoring
	im.DefaultAnalyzer = en.AnalyzerName
	im.StoreDynamic, im.IndexDynamic, im.DocValuesDynamic = false, false, false
	dm := bleve.NewDocumentStaticMapping()
	f := bleve.NewTextFieldMapping()
	f.Analyzer = en.AnalyzerName
	f.Store, f.IncludeTermVectors, f.IncludeInAll, f.DocValues = false, false, false, false
	dm.AddFieldMappingsAt("text", f)
	im.DefaultMapping = dm
	return im
}

type lexDoc struct {
	Text string `json:"text"`
}

// openLexical opens the lexical index, creating it if missing, and reads
// its generation. The caller holds mu for writing.
func (x *corpusIndex) openLexical() error {
	if x.lex != nil {
		return nil
	}
	idx, err := bleve.Open(x.dir)
	if err != nil {
		// Missing or unreadable: start over; rebuild fills it.
		if err := os.RemoveAll(x.dir); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(x.dir), 0o700); err != nil {
			return err
		}
		if idx, err = bleve.New(x.dir, leanMapping()); err != nil {
			return fmt.Errorf("knowledge: create the lexical index: %w", err)
		}
	}
	x.lex = idx
	x.lexGen = 0
	if v, err := idx.GetInternal(genKey); err == nil && v != nil {
		x.lexGen, _ = strconv.ParseUint(string(v), 10, 64)
	}
	return nil
}

// ensureLexical makes the lexical index reflect generation gen, rebuilding
// it from the store's chunks if it is behind. The caller holds mu.
func (x *corpusIndex) ensureLexical(store *persist.Store, gen uint64) error {
	if err := x.openLexical(); err != nil {
		return err
	}
	if x.lexGen == gen {
		return nil
	}
	_ = x.lex.Close()
	x.lex = nil
	if err := os.RemoveAll(x.dir); err != nil {
		return err
	}
	idx, err := bleve.New(x.dir, leanMapping())
	if err != nil {
		return fmt.Errorf("knowledge: create the lexical index: %w", err)
	}
	x.lex = idx
	b := idx.NewBatch()
	err = store.EachChunk(x.corpusID, func(ch persist.Chunk) error {
		if err := b.Index(ch.ID, lexDoc{Text: ch.Path + "\n" + ch.Text}); err != nil {
			return err
		}
		if b.Size() >= 500 {
			if err := idx.Batch(b); err != nil {
				return err
			}
			b.Reset()
		}
		return nil
	})
	if err == nil && b.Size() > 0 {
		err = idx.Batch(b)
	}
	if err != nil {
		return fmt.Errorf("knowledge: rebuild the lexical index: %w", err)
	}
	return x.setLexGen(gen)
}

func (x *corpusIndex) setLexGen(gen uint64) error {
	if err := x.lex.SetInternal(genKey, []byte(strconv.FormatUint(gen, 10))); err != nil {
		return err
	}
	x.lexGen = gen
	return nil
}

// applyLexical replaces chunks in the lexical index after a commit that
// moved the corpus from gen-1 to gen. If the index was not at gen-1 it is
// left behind and rebuilt on its next search. The caller holds mu.
func (x *corpusIndex) applyLexical(removed []string, added []persist.Chunk, gen uint64) error {
	if x.lex == nil {
		if err := x.openLexical(); err != nil {
			return err
		}
	}
	if x.lexGen+1 != gen {
		return nil
	}
	b := x.lex.NewBatch()
	for _, id := range removed {
		b.Delete(id)
	}
	for _, ch := range added {
		if err := b.Index(ch.ID, lexDoc{Text: ch.Path + "\n" + ch.Text}); err != nil {
			return err
		}
	}
	if err := x.lex.Batch(b); err != nil {
		return err
	}
	return x.setLexGen(gen)
}

// searchLexical returns the top n chunks by BM25.
func (x *corpusIndex) searchLexical(query string, n int) ([]hit, error) {
	q := bleve.NewMatchQuery(query)
	q.SetField("text")
	req := bleve.NewSearchRequestOptions(q, n, 0, false)
	res, err := x.lex.Search(req)
	if err != nil {
		return nil, err
	}
	out := make([]hit, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = hit{id: h.ID, score: h.Score}
	}
	return out, nil
}

// ensureVectors loads the corpus's vectors if they are not those of gen.
// The caller holds mu for writing.
func (x *corpusIndex) ensureVectors(store *persist.Store, gen uint64) error {
	if x.vecLoaded && x.vecGen == gen {
		return nil
	}
	var ids []string
	var mat []float32
	dim := 0
	err := store.EachVector(x.corpusID, func(id string, v []float32) error {
		if dim == 0 {
			dim = len(v)
		}
		if len(v) != dim {
			return nil // a vector of another embedder; reindex replaces it
		}
		ids = append(ids, id)
		mat = append(mat, v...)
		return nil
	})
	if err != nil {
		return err
	}
	x.ids, x.mat, x.dim = ids, mat, dim
	x.vecLoaded, x.vecGen = true, gen
	return nil
}

// searchVectors returns the top n chunks by cosine similarity (vectors
// are unit length, so a dot product), scanning every vector.
func (x *corpusIndex) searchVectors(q []float32, n int) []hit {
	rows := len(x.ids)
	if rows == 0 || len(q) != x.dim {
		return nil
	}
	parts := 1
	if rows >= 20000 {
		parts = runtime.GOMAXPROCS(0)
	}
	tops := make([]topK, parts)
	var wg sync.WaitGroup
	per := (rows + parts - 1) / parts
	for p := range parts {
		lo, hi := p*per, min((p+1)*per, rows)
		wg.Go(func() {
			t := topK{n: n}
			for r := lo; r < hi; r++ {
				t.push(hit{id: x.ids[r], score: float64(vek32.Dot(q, x.mat[r*x.dim:(r+1)*x.dim]))})
			}
			tops[p] = t
		})
	}
	wg.Wait()
	all := topK{n: n}
	for _, t := range tops {
		for _, h := range t.h {
			all.push(h)
		}
	}
	return all.sorted()
}

// close closes the lexical index.
func (x *corpusIndex) close() error {
	if x.lex == nil {
		return nil
	}
	err := x.lex.Close()
	x.lex = nil
	return err
}

// topK keeps the n best hits (a min-heap on score).
type topK struct {
	n int
	h hitHeap
}

func (t *topK) push(h hit) {
	if len(t.h) < t.n {
		heap.Push(&t.h, h)
		return
	}
	if t.n > 0 && h.score > t.h[0].score {
		t.h[0] = h
		heap.Fix(&t.h, 0)
	}
}

func (t *topK) sorted() []hit {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b hit) int { return cmp.Compare(b.score, a.score) })
	return out
}

type hitHeap []hit

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return h[i].score < h[j].score }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(x any)        { *h = append(*h, x.(hit)) }
func (h *hitHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// fuse merges rankings by reciprocal rank (k = 60), scaled so that a chunk
// first in every ranking scores 1.
func fuse(lists ...[]hit) []hit {
	score := map[string]float64{}
	var order []string
	for _, l := range lists {
		for rank, h := range l {
			if _, ok := score[h.id]; !ok {
				order = append(order, h.id)
			}
			score[h.id] += 1 / float64(rrfK+rank+1)
		}
	}
	best := float64(len(lists)) / float64(rrfK+1)
	out := make([]hit, len(order))
	for i, id := range order {
		out[i] = hit{id: id, score: score[id] / best}
	}
	slices.SortStableFunc(out, func(a, b hit) int { return cmp.Compare(b.score, a.score) })
	return out
}

// bm25Score maps a BM25 score onto 0–1.
func bm25Score(s float64) float64 { return s / (s + 10) }

var errNoIndex = errors.New("knowledge: no index")
