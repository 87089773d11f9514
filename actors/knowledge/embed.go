package knowledge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/viterin/vek/vek32"

	"github.com/seshat-host/seshat/actors/egress"

	"github.com/seshat-host/seshat/persist"
)

// Embedder turns texts into unit-length vectors of one dimension.
type Embedder interface {
	// Ref names the embedder and its vectors; corpora store it, and a
	// different Fingerprint means the vectors do not mix.
	Ref() persist.EmbedderRef
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Embedder providers.
const (
	ProviderBuiltin = "builtin"
	ProviderOpenAI  = "openai"
)

// BuiltinDimensions is the builtin embedder's dimension.
const BuiltinDimensions = 256

// Builtin is the offline embedder: signed feature hashing of each word and
// of its character trigrams. It needs no model and no network. It matches
// spellings and word forms (plurals, typos, shared stems), not meanings:
// "car" is near "cars", not near "automobile".
type Builtin struct{}

// Ref implements Embedder.
func (Builtin) Ref() persist.EmbedderRef {
	return persist.EmbedderRef{Provider: ProviderBuiltin, Model: "ngram-hash-v1", Dimensions: BuiltinDimensions,
		Fingerprint: fmt.Sprintf("builtin:ngram-hash-v1:%d", BuiltinDimensions)}
}

// Embed implements Embedder.
func (Builtin) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		out[i] = hashEmbed(t)
	}
	return out, nil
}

func hashEmbed(text string) []float32 {
	v := make([]float32, BuiltinDimensions)
	add := func(feature string, w float32) {
		h := fnv.New64a()
		_, _ = h.Write([]byte(feature))
		x := h.Sum64()
		idx := int(x % BuiltinDimensions)
		if x>>63 == 1 {
			w = -w
		}
		v[idx] += w
	}
	for _, word := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		add("w:"+word, 1)
		rs := []rune("<" + word + ">")
		for i := 0; i+3 <= len(rs); i++ {
			add(string(rs[i:i+3]), 0.5)
		}
	}
	normalize(v)
	return v
}

// normalize scales v to unit length in place (a zero vector stays zero).
func normalize(v []float32) {
	n := vek32.Norm(v)
	if n == 0 || math.IsNaN(float64(n)) {
		return
	}
	vek32.DivNumber_Inplace(v, n)
}

// OpenAIConfig configures an OpenAI-compatible embedder.
type OpenAIConfig struct {
	// BaseURL is the API root, such as https://api.openai.com/v1; the
	// embedder posts to BaseURL + "/embeddings".
	BaseURL string
	APIKey  string
	Model   string
	// Dimensions is the vectors' size: sent as "dimensions" when the
	// setting names one, and checked against every answer.
	Dimensions int
	// SendDimensions asks the server for Dimensions (models that can
	// shorten their vectors); otherwise the model's own size is used.
	SendDimensions bool
	// BatchSize is how many texts go in one request. If zero, 64.
	BatchSize int
	// Client makes the requests (an actors/egress client). Required.
	Client *http.Client
	// Retries is how many times a failed request is tried again. If
	// zero, 3; negative, none.
	Retries int
}

// OpenAI embeds with an OpenAI-compatible /v1/embeddings server.
type OpenAI struct{ cfg OpenAIConfig }

// NewOpenAI returns an OpenAI-compatible embedder.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if cfg.BaseURL == "" || cfg.Model == "" || cfg.Client == nil {
		return nil, errors.New("knowledge: the openai embedder needs base_url, model and a client")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 3
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &OpenAI{cfg: cfg}, nil
}

// Ref implements Embedder.
func (o *OpenAI) Ref() persist.EmbedderRef {
	return persist.EmbedderRef{Provider: ProviderOpenAI, Model: o.cfg.Model, Dimensions: o.cfg.Dimensions,
		Fingerprint: OpenAIFingerprint(o.cfg.BaseURL, o.cfg.Model, o.cfg.Dimensions)}
}

// OpenAIFingerprint names the vectors of a model at a server and dimension.
func OpenAIFingerprint(baseURL, model string, dims int) string {
	h := sha256.Sum256([]byte(strings.TrimRight(baseURL, "/")))
	return fmt.Sprintf("openai:%s:%d:%s", model, dims, hex.EncodeToString(h[:4]))
}

type embeddingsRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	Dimensions     int      `json:"dimensions,omitempty"`
	EncodingFormat string   `json:"encoding_format"`
}

type embeddingsResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// Embed implements Embedder: batches of BatchSize, each tried again on a
// network error, 429 or 5xx with a growing pause.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for i := 0; i < len(texts); i += o.cfg.BatchSize {
		batch := texts[i:min(i+o.cfg.BatchSize, len(texts))]
		vecs, err := o.embedBatch(ctx, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func (o *OpenAI) embedBatch(ctx context.Context, batch []string) ([][]float32, error) {
	req := embeddingsRequest{Model: o.cfg.Model, Input: batch, EncodingFormat: "float"}
	if o.cfg.SendDimensions {
		req.Dimensions = o.cfg.Dimensions
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt <= o.cfg.Retries; attempt++ {
		if attempt > 0 {
			pause := time.Duration(1<<(attempt-1)) * 200 * time.Millisecond
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(pause):
			}
		}
		vecs, retry, err := o.post(ctx, body, len(batch))
		if err == nil {
			return vecs, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// maxEmbeddingResponse caps an embeddings answer.
const maxEmbeddingResponse = 256 << 20

func (o *OpenAI) post(ctx context.Context, body []byte, n int) ([][]float32, bool, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.BaseURL+"/embeddings", bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if o.cfg.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
	resp, err := o.cfg.Client.Do(hr)
	if err != nil {
		if errors.Is(err, egress.ErrBlocked) {
			return nil, false, fmt.Errorf("embeddings request refused: %w", egress.ErrBlocked)
		}
		return nil, true, fmt.Errorf("embeddings request failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		// The upstream's body is not echoed: it may carry what the caller
		// should not see.
		return nil, retry, fmt.Errorf("the embeddings server answered %d", resp.StatusCode)
	}
	var er embeddingsResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxEmbeddingResponse)).Decode(&er); err != nil {
		return nil, true, fmt.Errorf("the embeddings answer does not decode: %w", err)
	}
	if len(er.Data) != n {
		return nil, false, fmt.Errorf("the embeddings server returned %d vectors for %d inputs", len(er.Data), n)
	}
	out := make([][]float32, n)
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, false, errors.New("the embeddings answer has bad indexes")
		}
		if o.cfg.Dimensions > 0 && len(d.Embedding) != o.cfg.Dimensions {
			return nil, false, fmt.Errorf("the embeddings server returned %d dimensions, not %d", len(d.Embedding), o.cfg.Dimensions)
		}
		normalize(d.Embedding)
		out[d.Index] = d.Embedding
	}
	return out, false, nil
}
