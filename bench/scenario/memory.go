package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seshat-host/seshat/bench/report"
	"github.com/seshat-host/seshat/http/apitype"
)

// MemoryConfig shapes the memory scenario.
type MemoryConfig struct {
	// Conversations and TurnsPerConversation make the scripted suite. If
	// zero, 10 and 60.
	Conversations        int
	TurnsPerConversation int
	// Facts is how many facts (attributes of the user) the script
	// teaches, repeats, updates and contradicts. If zero, 40.
	Facts int
	// Levels are the store sizes at which add and search are timed. If
	// nil, 100, 10,000 and 100,000.
	Levels []int
	// Samples is how many adds and searches are timed at each level. If
	// zero, 300.
	Samples int
	// Seed makes the script; 0 is seed 1.
	Seed uint64
}

func (c MemoryConfig) withDefaults() MemoryConfig {
	if c.Conversations <= 0 {
		c.Conversations = 10
	}
	if c.TurnsPerConversation <= 0 {
		c.TurnsPerConversation = 60
	}
	if c.Facts <= 0 {
		c.Facts = 40
	}
	if c.Levels == nil {
		c.Levels = []int{100, 10_000, 100_000}
	}
	if c.Samples <= 0 {
		c.Samples = 300
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// memoryAttributes are what the scripted facts are about: one word each,
// so that a question names exactly one fact.
var memoryAttributes = []string{
	"colour", "city", "employer", "editor", "language", "sport", "drink", "band", "car", "airline",
	"bank", "dentist", "gym", "school", "pet", "novel", "film", "dish", "fruit", "flower",
	"phone", "laptop", "browser", "shell", "keyboard", "chair", "hobby", "instrument", "painter", "poet",
	"holiday", "season", "cheese", "bread", "tea", "coffee", "beer", "wine", "game", "podcast",
	"newspaper", "radio", "shoe", "watch", "bicycle", "camera", "river", "mountain", "island", "museum",
}

// memoryFact is one attribute's history in the script.
type memoryFact struct {
	attr   string
	values []string // values[len-1] is current
}

func (f *memoryFact) statement(v string) string { return "User's favourite " + f.attr + " is " + v }

// memoryWord makes a pronounceable word no other fact uses.
func memoryWord(r *rand.Rand, used map[string]bool) string {
	const cons, vows = "bdfgklmnprstvz", "aeiou"
	for {
		var b strings.Builder
		for range 3 {
			b.WriteByte(cons[r.IntN(len(cons))])
			b.WriteByte(vows[r.IntN(len(vows))])
		}
		w := b.String()
		if !used[w] {
			used[w] = true
			return w
		}
	}
}

// runMemory runs the scripted conversations and the store-size levels.
func (s *Suite) runMemory(ctx context.Context) report.Result {
	cfg := s.Config.Memory.withDefaults()
	res := report.Result{Scenario: Memory, Status: report.StatusOK, Params: map[string]string{
		"conversations": strconv.Itoa(cfg.Conversations), "turns_per_conversation": strconv.Itoa(cfg.TurnsPerConversation),
		"facts": strconv.Itoa(cfg.Facts), "samples": strconv.Itoa(cfg.Samples), "seed": strconv.FormatUint(cfg.Seed, 10),
	}}
	t, err := s.Harness.startHost(ctx, Memory, nil)
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()
	step, err := s.memoryScript(ctx, t, cfg)
	if err != nil {
		return failed(res, err)
	}
	res.Steps = append(res.Steps, step)
	for _, n := range cfg.Levels {
		st, err := s.memoryLevel(ctx, t, n, cfg.Samples)
		if err != nil {
			return failed(res, fmt.Errorf("level %d: %w", n, err))
		}
		res.Steps = append(res.Steps, st)
	}
	return res
}

// memoryScript runs the conversations: facts taught (one or two per
// turn), repeated in other words, updated and contradicted, small talk,
// and at the end of each conversation questions whose answer is a fact's
// current value, asked in new conversations with @memories so that the
// reply lists what was recalled.
func (s *Suite) memoryScript(ctx context.Context, t *target, cfg MemoryConfig) (report.Step, error) {
	prog := s.Harness.progress()
	r := rand.New(rand.NewPCG(cfg.Seed, 7))
	used := map[string]bool{}
	facts := make([]*memoryFact, min(cfg.Facts, len(memoryAttributes)))
	for i := range facts {
		facts[i] = &memoryFact{attr: memoryAttributes[i]}
	}
	var taught []*memoryFact
	distinct := 0
	var (
		hits, stale, questions, turns, injected int64
		searchLat                               []time.Duration
		recalled                                int64
	)
	questionsPer := max(1, cfg.TurnsPerConversation/6)
	prog.Begin("memory: scripted conversations", int64(cfg.Conversations*cfg.TurnsPerConversation))
	defer prog.End()
	for c := range cfg.Conversations {
		sessionID := ""
		query := func(prompt, session string) (apitype.QueryResponse, error) {
			var qr apitype.QueryResponse
			err := t.ctl.call(ctx, http.MethodPost, "/api/v1/query", apitype.QueryRequest{Model: mockModel, Prompt: prompt, SessionID: session}, &qr, http.StatusOK)
			turns++
			prog.Add(1)
			return qr, err
		}
		for range cfg.TurnsPerConversation - questionsPer {
			var lines []string
			switch k := r.IntN(100); {
			case k < 35 && len(taught) < len(facts):
				// Teach one or two new facts.
				for range 1 + r.IntN(2) {
					if len(taught) == len(facts) {
						break
					}
					f := facts[len(taught)]
					f.values = append(f.values, memoryWord(r, used))
					taught = append(taught, f)
					distinct++
					lines = append(lines, "@remember "+f.statement(f.values[0]))
				}
			case k < 60 && len(taught) > 0:
				// Repeat a known fact in other words.
				f := taught[r.IntN(len(taught))]
				v := f.values[len(f.values)-1]
				variants := []string{
					"the user's favourite " + strings.ToUpper(f.attr) + " is " + v + ".",
					"User's favourite " + f.attr + " is " + v + "!",
					"  user's   favourite " + f.attr + " is " + strings.ToUpper(v[:1]) + v[1:],
				}
				lines = append(lines, "@remember "+variants[r.IntN(len(variants))])
			case k < 85 && len(taught) > 0:
				// An update, or a contradiction that names the old fact in
				// other words.
				f := taught[r.IntN(len(taught))]
				old := f.statement(f.values[len(f.values)-1])
				if r.IntN(2) == 0 {
					old = strings.ToLower(old) + "."
				}
				f.values = append(f.values, memoryWord(r, used))
				distinct++
				lines = append(lines, "@remember "+f.statement(f.values[len(f.values)-1])+" !replaces "+old)
			}
			lines = append(lines, "let us talk about something else now")
			qr, err := query(strings.Join(lines, "\n"), sessionID)
			if err != nil {
				return report.Step{}, err
			}
			sessionID = qr.SessionID
		}
		// Extraction runs after each turn, in the background: wait until
		// the store has settled before asking.
		if err := waitMemoriesSettled(ctx, t, 30*time.Second); err != nil {
			return report.Step{}, err
		}
		for range questionsPer {
			if len(taught) == 0 {
				if _, err := query("hello", sessionID); err != nil {
					return report.Step{}, err
				}
				continue
			}
			f := taught[r.IntN(len(taught))]
			prompt := "@memories\nwhat is the user's favourite " + f.attr + "?"
			// Asked in a new conversation, and again in a new session that
			// neither recalls nor extracts: the difference in input tokens
			// is what recall injected.
			qr, err := query(prompt, "")
			if err != nil {
				return report.Step{}, err
			}
			var bare apitype.Session
			if err := t.ctl.call(ctx, http.MethodPost, "/api/v1/sessions", apitype.CreateSessionRequest{Model: mockModel,
				Memory: &apitype.SessionMemory{Extract: "off", Inject: false}}, &bare, http.StatusCreated); err != nil {
				return report.Step{}, err
			}
			base, err := query(prompt, bare.ID)
			if err != nil {
				return report.Step{}, err
			}
			questions++
			injected += qr.Usage.InputTokens - base.Usage.InputTokens
			recalled += int64(len(qr.MemoriesUsed))
			items := strings.Split(strings.TrimPrefix(qr.Content, "memories: "), " | ")
			cur := f.values[len(f.values)-1]
			if slices.ContainsFunc(items, func(it string) bool { return strings.HasSuffix(strings.ToLower(it), " "+cur) }) {
				hits++
			}
			for _, old := range f.values[:len(f.values)-1] {
				if slices.ContainsFunc(items, func(it string) bool { return strings.HasSuffix(strings.ToLower(it), " "+old) }) {
					stale++
					break
				}
			}
			start := time.Now()
			var out apitype.List[apitype.MemoryHit]
			if err := t.ctl.call(ctx, http.MethodPost, "/api/v1/memories/search", apitype.SearchMemoriesRequest{Query: "favourite " + f.attr, Limit: 5}, &out, http.StatusOK); err != nil {
				return report.Step{}, err
			}
			searchLat = append(searchLat, time.Since(start))
		}
		_ = c
	}
	stored, active, err := countMemories(ctx, t)
	if err != nil {
		return report.Step{}, err
	}
	st := report.Step{Name: "scripted conversations", Count: turns}
	q := float64(max(questions, 1))
	st.Values = []report.Value{
		{Name: "questions", Value: float64(questions), Unit: ""},
		{Name: "recall_at_5", Value: float64(hits) / q, Unit: "ratio"},
		{Name: "stale_hit_rate", Value: float64(stale) / q, Unit: "ratio"},
		{Name: "distinct_facts", Value: float64(distinct), Unit: ""},
		{Name: "memories_stored", Value: float64(stored), Unit: ""},
		{Name: "memories_active", Value: float64(active), Unit: ""},
		{Name: "duplicate_ratio", Value: float64(stored) / float64(max(distinct, 1)), Unit: "ratio"},
		{Name: "injected_tokens_per_turn", Value: float64(injected) / q, Unit: "tokens"},
		{Name: "memories_recalled_per_turn", Value: float64(recalled) / q, Unit: ""},
		{Name: "search_p95", Value: ms(p95(searchLat)), Unit: "ms"},
	}
	st.Latency = []report.Latency{{Name: "search", Summary: report.Summarize(searchLat)}}
	return st, nil
}

// p95 is the 95th percentile of samples (nearest rank).
func p95(samples []time.Duration) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*95+99)/100-1)]
}

// countMemories pages through every memory of the control's user.
func countMemories(ctx context.Context, t *target) (all, active int, err error) {
	cursor := ""
	for {
		var page apitype.MemoryList
		if err := t.ctl.call(ctx, http.MethodGet, "/api/v1/memories?limit=200&cursor="+cursor, nil, &page, http.StatusOK); err != nil {
			return 0, 0, err
		}
		for _, m := range page.Data {
			all++
			if m.Status == "active" {
				active++
			}
		}
		if page.NextCursor == "" {
			return all, active, nil
		}
		cursor = page.NextCursor
	}
}

// waitMemoriesSettled waits until the memory count has not changed for a
// second (extractions done), or limit passes.
func waitMemoriesSettled(ctx context.Context, t *target, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		n, _, err := countMemories(ctx, t)
		if err != nil {
			return err
		}
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= time.Second {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// memoryLevel fills a fresh user's store to n memories (with 32 clients)
// and times samples single adds and samples searches one at a time.
func (s *Suite) memoryLevel(ctx context.Context, t *target, n, samples int) (report.Step, error) {
	prog := s.Harness.progress()
	ctl := newControl(t.addr, "")
	defer ctl.close()
	if _, err := ctl.account(ctx, fmt.Sprintf("memory-%d", n)); err != nil {
		return report.Step{}, err
	}
	fact := func(i int) string {
		return fmt.Sprintf("Fact %d: the user's item%d relates to topic%d and tag%d", i, i, i%500, i%3000)
	}
	prog.Begin(fmt.Sprintf("memory: fill to %d", n), int64(n))
	err := parallel(ctx, n, 32, func(ctx context.Context, i int) error {
		prog.Add(1)
		return ctl.call(ctx, http.MethodPost, "/api/v1/memories", apitype.CreateMemoryRequest{Content: fact(i)}, nil, http.StatusCreated)
	})
	prog.End()
	if err != nil {
		return report.Step{}, err
	}
	var adds, searches []time.Duration
	prog.Begin(fmt.Sprintf("memory: time adds and searches at %d", n), int64(2*samples))
	defer prog.End()
	for i := range samples {
		start := time.Now()
		if err := ctl.call(ctx, http.MethodPost, "/api/v1/memories", apitype.CreateMemoryRequest{Content: fact(n + i)}, nil, http.StatusCreated); err != nil {
			return report.Step{}, err
		}
		adds = append(adds, time.Since(start))
		prog.Add(1)
	}
	for i := range samples {
		start := time.Now()
		var out apitype.List[apitype.MemoryHit]
		q := fmt.Sprintf("what about topic%d and tag%d?", i%500, i%3000)
		if err := ctl.call(ctx, http.MethodPost, "/api/v1/memories/search", apitype.SearchMemoriesRequest{Query: q, Limit: 5}, &out, http.StatusOK); err != nil {
			return report.Step{}, err
		}
		searches = append(searches, time.Since(start))
		prog.Add(1)
	}
	st := report.Step{Name: fmt.Sprintf("store of %s memories", report.FormatCount(int64(n))), Level: float64(n), Count: int64(samples)}
	st.Latency = []report.Latency{{Name: "add", Summary: report.Summarize(adds)}, {Name: "search", Summary: report.Summarize(searches)}}
	st.Values = []report.Value{{Name: "search_p95", Value: ms(p95(searches)), Unit: "ms"}}
	return st, nil
}
