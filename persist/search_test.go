package persist_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestTokenize(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Hello, World!", []string{"hello", "world"}},
		{"a bb c dd", []string{"bb", "dd"}},
		{"snake_case kebab-case dot.ted", []string{"snake", "case", "kebab", "case", "dot", "ted"}},
		{"v2 2024 x9", []string{"v2", "2024", "x9"}},
		{"Größe ÄRGER", []string{"größe", "ärger"}},
		{"ΑΒΓ δε", []string{"αβγ", "δε"}},
		{"cafe\u0301 ok", []string{"cafe\u0301", "ok"}},
		{"日本語 テキスト", []string{"日本語", "テキスト"}},
		{long, []string{strings.Repeat("é", 32)}},
		{"   ", nil},
		{"", nil},
	} {
		require.Equal(t, tc.want, persist.Tokenize(tc.in), "%q", tc.in)
	}
}

// listAll pages through a query and returns the ids in order.
func listAll(t *testing.T, s *persist.Store, q persist.SessionQuery) []string {
	t.Helper()
	var ids []string
	for range 1000 {
		items, next, err := s.ListSessions(q)
		require.NoError(t, err)
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		if next == "" {
			return ids
		}
		require.Len(t, items, max(1, min(q.Limit, 200)), "a page with a next cursor is full")
		q.Cursor = next
	}
	t.Fatal("too many pages")
	return nil
}

func TestListSessionsSearch(t *testing.T) {
	s := persisttest.Open(t)
	u1, u2 := newUser(t, s), newUser(t, s)
	ws1, ws2 := u1.DefaultWorkspaceID, u2.DefaultWorkspaceID
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	mk := func(ws string, minute int, title, text string) string {
		sess := newSession(t, s, ws, t0.Add(time.Duration(minute)*time.Minute), title)
		if text != "" {
			require.NoError(t, save(t, s, persist.SessionSave{Session: sess, IndexText: text}))
		}
		return sess.ID
	}
	deploy := mk(ws1, 1, "Deploy the service", "kubernetes rollout went fine")
	budget := mk(ws1, 2, "Budget review", "quarterly numbers and the rollout cost")
	kube := mk(ws1, 3, "Notes", "Kubernetes upgrade; the rollback plan")
	other := mk(ws2, 4, "Deploy elsewhere", "kubernetes in another workspace")
	_ = mk(ws1, 5, "Empty", "")

	q := func(text string, ws ...string) []string {
		return listAll(t, s, persist.SessionQuery{WorkspaceIDs: ws, Q: text, Limit: 2})
	}
	require.Equal(t, []string{kube, deploy}, q("kubernetes", ws1), "newest first")
	require.Equal(t, []string{other, kube, deploy}, q("KUBERNETES", ws1, ws2), "across workspaces")
	require.Equal(t, []string{other}, q("kubernetes", ws2), "workspace filter")
	require.Equal(t, []string{budget, deploy}, q("rollout", ws1))
	require.Equal(t, []string{kube, budget, deploy}, q("roll", ws1), "one word is a prefix")
	require.Equal(t, []string{deploy}, q("rollout kube", ws1), "exact words and a prefix")
	require.Equal(t, []string{kube}, q("kubernetes rollb", ws1))
	require.Equal(t, []string{deploy}, q("the deploy", ws1), "title words are indexed")
	require.Equal(t, []string{deploy}, q("deploy service kubernetes fi", ws1))
	require.Empty(t, q("kubernetes zzz", ws1))
	require.Empty(t, q("nosuchword kube", ws1))
	require.Empty(t, q("xq", ws1))
	require.Len(t, q("a !", ws1), 4, "a query without terms filters nothing")

	// Words added by a later save become searchable; deletion removes them.
	sess, err := s.Session(budget)
	require.NoError(t, err)
	require.NoError(t, save(t, s, persist.SessionSave{Session: sess, IndexText: "kubernetes costs"}))
	require.Equal(t, []string{kube, budget, deploy}, q("kubernetes", ws1))
	require.NoError(t, s.DeleteSession(t.Context(), kube))
	require.Equal(t, []string{budget, deploy}, q("kubernetes", ws1))
	require.Empty(t, q("rollback", ws1))
}

func TestListSessionsPaging(t *testing.T) {
	s := persisttest.Open(t)
	u1, u2 := newUser(t, s), newUser(t, s)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i := range 25 {
		ws := u1.DefaultWorkspaceID
		if i%3 == 0 {
			ws = u2.DefaultWorkspaceID
		}
		// Pairs share a creation time: ties break by id.
		sess := newSession(t, s, ws, t0.Add(time.Duration(i/2)*time.Second), "same title")
		want = append(want, sess.ID)
	}
	// Newest first; within a tie, the larger id first.
	slices.SortFunc(want, func(a, b string) int {
		sa, _ := s.Session(a)
		sb, _ := s.Session(b)
		if c := sb.CreatedAt.Compare(sa.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b, a)
	})
	for _, limit := range []int{1, 2, 7, 25, 100} {
		for _, text := range []string{"", "same", "same title", "title sa"} {
			got := listAll(t, s, persist.SessionQuery{WorkspaceIDs: []string{u1.DefaultWorkspaceID, u2.DefaultWorkspaceID}, Q: text, Limit: limit})
			require.Equal(t, want, got, "limit %d q %q", limit, text)
		}
	}

	items, next, err := s.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{u1.DefaultWorkspaceID, u1.DefaultWorkspaceID}})
	require.NoError(t, err)
	require.Len(t, items, 16, "default limit covers them; duplicates ignored")
	require.Empty(t, next)
}

func TestListSessionsInvalid(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	ws := []string{u.DefaultWorkspaceID}
	for _, q := range []persist.SessionQuery{
		{},
		{WorkspaceIDs: ws, Cursor: "!!!"},
		{WorkspaceIDs: ws, Cursor: "AAAA"},
		{WorkspaceIDs: ws, Limit: -1},
		{WorkspaceIDs: []string{"a\x00b"}},
	} {
		_, _, err := s.ListSessions(q)
		require.ErrorIs(t, err, persist.ErrInvalid, "%+v", q)
	}
	for range 3 {
		newSession(t, s, u.DefaultWorkspaceID, time.Now(), "x")
	}
	items, next, err := s.ListSessions(persist.SessionQuery{WorkspaceIDs: ws, Limit: 1000})
	require.NoError(t, err)
	require.Len(t, items, 3)
	require.Empty(t, next)
}

// TestListSessionsMatchesModel compares random queries against a brute-force
// model of the search rules, with both strategies for the prefix of a
// several-word query.
func TestListSessionsMatchesModel(t *testing.T) {
	t.Run("prefix collected", func(t *testing.T) { testMatchesModel(t, false, 0) })
	t.Run("prefix checked per match", func(t *testing.T) {
		t.Cleanup(persist.SetMaxPrefixPostings(3))
		testMatchesModel(t, false, 0)
	})
	// The same sessions indexed in the layout before the flat postings
	// bucket, and migrated at Open, answer the same.
	t.Run("postings migrated", func(t *testing.T) { testMatchesModel(t, true, 0) })
	// Migrated 7 postings a transaction, the first 5 parts committed by a
	// process that then stopped, the rest at the next Open.
	t.Run("postings migrated in parts", func(t *testing.T) {
		t.Cleanup(persist.SetFlatPostingsPerTx(7))
		testMatchesModel(t, true, 5)
	})
}

// testMatchesModel checks searches against a brute-force model. With
// migrated, the postings are first put back in the layout before the flat
// postings bucket and migrated at the next Open, after partsBeforeStop
// parts of the migration committed on their own.
func testMatchesModel(t *testing.T, migrated bool, partsBeforeStop int) {
	cfg := persisttest.Config(t, persist.Config{})
	s, err := persist.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Check())
		require.NoError(t, s.Close())
	})
	rng := rand.New(rand.NewPCG(1, 2))
	users := []persist.User{newUser(t, s), newUser(t, s), newUser(t, s)}
	vocab := []string{"alpha", "alps", "alpine", "beta", "bet", "better", "gamma", "gam", "delta", "del",
		"deluxe", "epsilon", "eps", "zeta", "zest", "eta", "theta", "the", "iota", "io"}
	type doc struct {
		id, ws  string
		created time.Time
		terms   map[string]bool
	}
	var docs []doc
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		ws := users[rng.IntN(len(users))].DefaultWorkspaceID
		words := func(n int) []string {
			var w []string
			for range n {
				w = append(w, vocab[rng.IntN(len(vocab))])
			}
			return w
		}
		title, text := words(2), words(rng.IntN(6))
		sess := newSession(t, s, ws, t0.Add(time.Duration(rng.IntN(200))*time.Second), strings.Join(title, " "))
		d := doc{id: sess.ID, ws: ws, created: sess.CreatedAt, terms: map[string]bool{}}
		for _, w := range append(title, text...) {
			d.terms[w] = true
		}
		if len(text) > 0 {
			require.NoError(t, save(t, s, persist.SessionSave{Session: sess, IndexText: strings.Join(text, ", ")}))
		}
		if i%10 == 0 {
			require.NoError(t, s.DeleteSession(t.Context(), sess.ID))
			continue
		}
		docs = append(docs, d)
	}
	if migrated {
		require.NoError(t, s.RollBackToSchema(persist.FlatPostingsSchema-1))
		layout := func() (nested, flat bool) {
			require.NoError(t, s.RawView(func(tx persist.RawTx) error {
				nested, flat = tx.Bucket([]byte("idx_terms")) != nil, tx.Bucket([]byte("idx_postings")) != nil
				return nil
			}))
			return nested, flat
		}
		nested, flat := layout()
		require.True(t, nested && !flat, "the old layout: a bucket per workspace and term")
		for i := range partsBeforeStop {
			more, err := s.MigrateFlatPostingsPart()
			require.NoError(t, err)
			require.True(t, more, "part %d of the migration was its last", i+1)
		}
		if partsBeforeStop > 0 {
			nested, flat = layout()
			require.True(t, nested && flat, "between parts, some postings moved and some not")
		}
		require.NoError(t, s.Close())
		s, err = persist.Open(cfg)
		require.NoError(t, err)
		nested, flat = layout()
		require.True(t, !nested && flat, "migrated to the flat postings")
	}
	slices.SortFunc(docs, func(a, b doc) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	for i := range 300 {
		var words []string
		for range 1 + rng.IntN(3) {
			w := vocab[rng.IntN(len(vocab))]
			if rng.IntN(3) == 0 {
				w = w[:2+rng.IntN(len(w)-1)]
			}
			words = append(words, w)
		}
		var wss []string
		for _, u := range users {
			if rng.IntN(2) == 0 {
				wss = append(wss, u.DefaultWorkspaceID)
			}
		}
		if len(wss) == 0 {
			wss = []string{users[0].DefaultWorkspaceID}
		}
		var want []string
		for _, d := range docs {
			if !slices.Contains(wss, d.ws) {
				continue
			}
			ok := true
			for j, w := range words {
				if j < len(words)-1 {
					ok = ok && d.terms[w]
					continue
				}
				any := false
				for term := range d.terms {
					any = any || strings.HasPrefix(term, w)
				}
				ok = ok && any
			}
			if ok {
				want = append(want, d.id)
			}
		}
		q := persist.SessionQuery{WorkspaceIDs: wss, Q: strings.Join(words, " "), Limit: 1 + rng.IntN(40)}
		got := listAll(t, s, q)
		require.Equal(t, want, got, fmt.Sprintf("query %d: %+v", i, q))
	}
}
