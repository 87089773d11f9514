package persist_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seshat-host/seshat/persist"
)

// BenchmarkSaveSessionSeeded is BenchmarkSaveSession on a store already
// holding 20,000 sessions, so that the indexes have the depth of a store in
// use, with turns of two shapes: "gateway" repeats one question and one
// answer (the load bench's /v1/messages calls), "varied" draws 12 words of
// question and 40 of answer from a Zipf distribution over 10,000 words. Each
// op is turns one-shot turns (creation, the save at the turn's start and
// the one at its end) in one transaction, as a batch of the writer commits
// them. Besides allocations it reports bbolt's pwrite calls per turn (one
// per dirty page, plus the meta page and the freelist), the stable figure
// of a commit's cost.
func BenchmarkSaveSessionSeeded(b *testing.B) {
	const seeded = 20_000
	words := benchVocab(10_000)
	for _, shape := range []string{"gateway", "varied"} {
		for _, turns := range []int{1, 16} {
			b.Run(fmt.Sprintf("shape=%s/turns=%d", shape, turns), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(3, 3))
				zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(words)-1))
				text := func(n int) string {
					var sb strings.Builder
					for range n {
						sb.WriteString(words[zipf.Uint64()])
						sb.WriteByte(' ')
					}
					return sb.String()
				}
				question := "Say hello to the gateway bench, and tell me about the weather in Lisbon today"
				answer := strings.Repeat("Hello from the mock upstream, here is a word of the answer. ", 6)
				turn := func() (string, string) {
					if shape == "gateway" {
						return question, answer
					}
					return text(12), text(40)
				}
				dir := b.TempDir()
				s, err := persist.Open(persist.Config{Dir: dir, NoSync: true, MaxBatch: 5000})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				u, err := s.CreateUser(b.Context(), persist.User{Email: "seeded@example.com"}, persist.Workspace{})
				if err != nil {
					b.Fatal(err)
				}
				snap := persist.Snapshot{Version: 2, Data: []byte(strings.Repeat(`{"usage":{"input_tokens":12,"output_tokens":34}}`, 8))}
				n := 0
				t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				oneShot := func(tx *persist.Tx, q, a string) error {
					n++
					rec := persist.Session{
						ID: fmt.Sprintf("sess_seed%08d", n), WorkspaceID: u.DefaultWorkspaceID, UserID: u.ID,
						Model: "anthropic:claude-sonnet-4-5", PermissionMode: "default", Status: "idle",
						CreatedAt: t0.Add(time.Duration(n) * time.Millisecond),
					}
					if err := tx.CreateSession(rec); err != nil {
						return err
					}
					userMsg := fmt.Appendf(nil, `{"role":"user","content":[{"type":"text","text":%q}]}`, q)
					answerMsg := fmt.Appendf(nil, `{"role":"assistant","content":[{"type":"text","text":%q}]}`, a)
					rec.Title, rec.Status, rec.MessageCount = q[:min(40, len(q))], "running", 1
					if err := tx.SaveSession(persist.SessionSave{Session: rec, Snapshot: snap, IndexText: q, Messages: [][]byte{userMsg}}); err != nil {
						return err
					}
					rec.Status, rec.MessageCount = "idle", 2
					return tx.SaveSession(persist.SessionSave{Session: rec, Snapshot: snap, IndexText: a, Messages: [][]byte{answerMsg}, MessagesFrom: 1})
				}
				for i := 0; i < seeded; i += 2000 {
					type qa struct{ q, a string }
					batch := make([]qa, 2000)
					for j := range batch {
						batch[j].q, batch[j].a = turn()
					}
					if err := s.Update(b.Context(), func(tx *persist.Tx) error {
						for _, t := range batch {
							if err := oneShot(tx, t.q, t.a); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
				// The texts are drawn before the clock runs.
				texts := make([][2]string, turns)
				db := s.BoltDB()
				before := db.Stats().TxStats
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					b.StopTimer()
					for i := range texts {
						texts[i][0], texts[i][1] = turn()
					}
					b.StartTimer()
					err := s.Update(b.Context(), func(tx *persist.Tx) error {
						for _, t := range texts {
							if err := oneShot(tx, t[0], t[1]); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				after := db.Stats().TxStats
				ops := float64(b.N * turns)
				b.ReportMetric(float64(after.GetWrite()-before.GetWrite())/ops, "pwrites/turn")
				b.ReportMetric(float64(after.GetSpill()-before.GetSpill())/ops, "spills/turn")
				b.ReportMetric(float64(after.GetNodeCount()-before.GetNodeCount())/ops, "nodes/turn")
				if fi, err := os.Stat(filepath.Join(dir, "seshat.db")); err == nil {
					b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
				}
			})
		}
	}
}

// BenchmarkOpenSeeded measures Open and Close of a store holding 100,000
// one-shot sessions of the gateway shape (see BenchmarkSaveSessionSeeded):
// what a restart pays before it listens.
func BenchmarkOpenSeeded(b *testing.B) {
	dir := b.TempDir()
	seedOneShots(b, dir, 100_000)
	b.ResetTimer()
	for b.Loop() {
		s, err := persist.Open(persist.Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "seshat.db")); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	}
}

// BenchmarkMigrateFlatPostings measures the first Open of a store of
// 100,000 one-shot sessions written with the session search postings in
// nested buckets: the migration that moves them into one bucket.
func BenchmarkMigrateFlatPostings(b *testing.B) {
	for _, bc := range []struct {
		name  string
		perTx int
	}{{"one transaction", 1 << 30}, {"parts", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.perTx > 0 {
				b.Cleanup(persist.SetFlatPostingsPerTx(bc.perTx))
			}
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				seedOneShots(b, dir, 100_000)
				s, err := persist.Open(persist.Config{Dir: dir, NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.RollBackToSchema(persist.FlatPostingsSchema - 1); err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				stop := sampleHeap(&peak)
				b.StartTimer()
				s, err = persist.Open(persist.Config{Dir: dir})
				b.StopTimer()
				stop()
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// sampleHeap records the largest heap in use into peak every millisecond
// until the returned func is called.
func sampleHeap(peak *uint64) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		var ms runtime.MemStats
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			*peak = max(*peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-exited }
}

// seedOneShots stores n one-shot sessions of the gateway shape in a store
// in dir, 16 turns a commit as the writer's batches do, so that the file
// holds the free pages of many small commits.
func seedOneShots(b *testing.B, dir string, sessions int) {
	b.Helper()
	const batch = 5_000
	s, err := persist.Open(persist.Config{Dir: dir, NoSync: true, MaxBatch: batch})
	if err != nil {
		b.Fatal(err)
	}
	u, err := s.CreateUser(b.Context(), persist.User{Email: "open@example.com"}, persist.Workspace{})
	if err != nil {
		b.Fatal(err)
	}
	question := "Say hello to the gateway bench, and tell me about the weather in Lisbon today"
	answer := strings.Repeat("Hello from the mock upstream, here is a word of the answer. ", 6)
	snap := persist.Snapshot{Version: 2, Data: []byte(strings.Repeat(`{"usage":{"input_tokens":12,"output_tokens":34}}`, 8))}
	userMsg := fmt.Appendf(nil, `{"role":"user","content":[{"type":"text","text":%q}]}`, question)
	answerMsg := fmt.Appendf(nil, `{"role":"assistant","content":[{"type":"text","text":%q}]}`, answer)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const perCommit = 16
	for i := 0; i < sessions; i += perCommit {
		err := s.Update(b.Context(), func(tx *persist.Tx) error {
			for j := i; j < i+perCommit; j++ {
				rec := persist.Session{
					ID: fmt.Sprintf("sess_open%08d", j), WorkspaceID: u.DefaultWorkspaceID, UserID: u.ID,
					Model: "anthropic:claude-sonnet-4-5", Status: "idle", CreatedAt: t0.Add(time.Duration(j) * time.Millisecond),
				}
				if err := tx.CreateSession(rec); err != nil {
					return err
				}
				rec.Title, rec.MessageCount = question[:40], 1
				if err := tx.SaveSession(persist.SessionSave{Session: rec, Snapshot: snap, IndexText: question, Messages: [][]byte{userMsg}}); err != nil {
					return err
				}
				rec.MessageCount = 2
				if err := tx.SaveSession(persist.SessionSave{Session: rec, Snapshot: snap, IndexText: answer, Messages: [][]byte{answerMsg}, MessagesFrom: 1}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	st := s.BoltDB().Stats()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d sessions: %d free pages, %.1f KiB of freelist", sessions, st.FreePageN, float64(st.FreelistInuse)/1024)
}
