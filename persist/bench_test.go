package persist_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// BenchmarkGroupCommit measures durable (fsync on) 512-byte writes per
// second through the group-commit writer with 1, 64 and 1024 concurrent
// writers, each calling Update and waiting for its commit. The plain
// variants run the same writes as one bbolt Update each, for comparison.
func BenchmarkGroupCommit(b *testing.B) {
	value := bytes.Repeat([]byte{'v'}, 512)
	group := func(s *persist.Store, k []byte) error {
		return s.Update(b.Context(), func(tx *persist.Tx) error { return tx.BenchPut(k, value) })
	}
	plain := func(s *persist.Store, k []byte) error {
		return s.BoltDB().Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("bench"))
			if err != nil {
				return err
			}
			return bk.Put(k, value)
		})
	}
	for _, writers := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			benchWrites(b, writers, persist.Config{}, group)
		})
	}
	// Without the wait for the previous batch's writers to come back.
	b.Run("writers=64/no-linger", func(b *testing.B) {
		benchWrites(b, 64, persist.Config{CommitInterval: time.Nanosecond}, group)
	})
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("plain-update/writers=%d", writers), func(b *testing.B) {
			benchWrites(b, writers, persist.Config{}, plain)
		})
	}
}

func benchWrites(b *testing.B, writers int, cfg persist.Config, write func(*persist.Store, []byte) error) {
	cfg.Dir = b.TempDir()
	s, err := persist.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], uint64(i))
				if err := write(s, k[:]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	if st := s.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
	}
}

// BenchmarkListSessionsSearch seeds 100k sessions (90k in one workspace,
// 10k in another, 4 title words and 30 words of text each, drawn from a
// Zipf distribution over 10k words) and measures one page of 50 over both
// workspaces: a plain listing, a later page, and searches.
func BenchmarkListSessionsSearch(b *testing.B) {
	const (
		sessions = 100_000
		vocab    = 10_000
		batch    = 5_000
	)
	dir := b.TempDir()
	s, err := persist.Open(persist.Config{Dir: dir, NoSync: true, MaxBatch: batch})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	u1, err := s.CreateUser(ctx, persist.User{Email: "a@example.com"}, persist.Workspace{})
	if err != nil {
		b.Fatal(err)
	}
	u2, err := s.CreateUser(ctx, persist.User{Email: "b@example.com"}, persist.Workspace{})
	if err != nil {
		b.Fatal(err)
	}
	words := benchVocab(vocab)
	rng := rand.New(rand.NewPCG(7, 7))
	zipf := rand.NewZipf(rng, 1.1, 2, vocab-1)
	text := func(n int) string {
		var sb strings.Builder
		for range n {
			sb.WriteString(words[zipf.Uint64()])
			sb.WriteByte(' ')
		}
		return sb.String()
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	for i := 0; i < sessions; i += batch {
		saves := make([]persist.SessionSave, 0, batch)
		for j := i; j < i+batch; j++ {
			ws := u1.DefaultWorkspaceID
			if j%10 == 0 {
				ws = u2.DefaultWorkspaceID
			}
			saves = append(saves, persist.SessionSave{
				Session: persist.Session{ID: benchID(rng), WorkspaceID: ws, UserID: u1.ID, Model: "mock:echo", Status: "idle",
					Title: text(4), CreatedAt: t0.Add(time.Duration(j) * time.Second)},
				Snapshot:  persist.Snapshot{Version: 1, Data: []byte("{}")},
				IndexText: text(30),
			})
		}
		err := s.Update(ctx, func(tx *persist.Tx) error {
			for _, sv := range saves {
				if err := tx.CreateSession(sv.Session); err != nil {
					return err
				}
				if err := tx.SaveSession(sv); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	seeded := time.Since(start)
	if fi, err := os.Stat(filepath.Join(dir, "seshat.db")); err == nil {
		b.Logf("seeded %d sessions in %v; file %.1f MB", sessions, seeded.Round(time.Millisecond), float64(fi.Size())/1e6)
	}

	wss := []string{u1.DefaultWorkspaceID, u2.DefaultWorkspaceID}
	_, page2, err := s.ListSessions(persist.SessionQuery{WorkspaceIDs: wss})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		q    persist.SessionQuery
	}{
		{"list", persist.SessionQuery{WorkspaceIDs: wss}},
		{"list-page2", persist.SessionQuery{WorkspaceIDs: wss, Cursor: page2}},
		// words[2] is the most frequent word; words[500] a mid-frequency one.
		{"q=common+prefix", persist.SessionQuery{WorkspaceIDs: wss, Q: words[2] + " " + words[500][:3]}},
		{"q=two-words+prefix", persist.SessionQuery{WorkspaceIDs: wss, Q: words[10] + " " + words[20] + " " + words[30][:3]}},
		{"q=no-match", persist.SessionQuery{WorkspaceIDs: wss, Q: words[100] + " " + words[300] + " " + words[200]}},
		{"q=rare-word", persist.SessionQuery{WorkspaceIDs: wss, Q: words[9000] + " "}},
		{"q=2-letter-prefix", persist.SessionQuery{WorkspaceIDs: wss, Q: words[40][:2]}},
	} {
		items, _, err := s.ListSessions(bc.q)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.ListSessions(bc.q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(items)), "items")
		})
	}
}

// benchVocab returns n distinct pseudo-words of 3 to 9 lower-case letters.
func benchVocab(n int) []string {
	rng := rand.New(rand.NewPCG(1, 1))
	seen := make(map[string]bool, n)
	words := make([]string, 0, n)
	for len(words) < n {
		w := make([]byte, 3+rng.IntN(7))
		for i := range w {
			w[i] = byte('a' + rng.IntN(26))
		}
		if !seen[string(w)] {
			seen[string(w)] = true
			words = append(words, string(w))
		}
	}
	return words
}

// benchID returns a session id shaped like the runtime's: a prefix and 26
// random base32 characters, so that record keys arrive in random order.
func benchID(rng *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := []byte("sess_00000000000000000000000000")
	for i := 5; i < len(b); i++ {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// BenchmarkGroupCommitPaced measures durable writes from writers that do
// other work between writes, as turns do between their commits: 64 busy
// writers (300µs between writes) and 4 sparse ones (3ms), each reporting
// writes/s, writes per commit and the mean time a write waits for its
// commit.
func BenchmarkGroupCommitPaced(b *testing.B) {
	value := bytes.Repeat([]byte{'v'}, 512)
	for _, c := range []struct {
		writers int
		think   time.Duration
	}{{64, 300 * time.Microsecond}, {4, 3 * time.Millisecond}} {
		b.Run(fmt.Sprintf("writers=%d/think=%s", c.writers, c.think), func(b *testing.B) {
			s, err := persist.Open(persist.Config{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := s.Close(); err != nil {
					b.Error(err)
				}
			}()
			var next, waited atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range c.writers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						time.Sleep(c.think)
						var k [8]byte
						binary.BigEndian.PutUint64(k[:], uint64(i))
						t0 := time.Now()
						if err := s.Update(b.Context(), func(tx *persist.Tx) error { return tx.BenchPut(k[:], value) }); err != nil {
							b.Error(err)
							return
						}
						waited.Add(int64(time.Since(t0)))
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
			b.ReportMetric(float64(waited.Load())/float64(b.N)/1e3, "µs/write-wait")
			if st := s.Stats(); st.Commits > 0 {
				b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
			}
		})
	}
}

// BenchmarkFiles measures PutFile (an upload: the bytes streamed and
// hashed into the blob backend, then the record committed) and reading a
// file back through OpenFileContent, in MB/s, for files of 64 KiB and
// 8 MiB, on bbolt (files in a blob dir) and, with SESHAT_TEST_POSTGRES,
// PostgreSQL (chunks in the database). Durable: fsync on.
func BenchmarkFiles(b *testing.B) {
	for _, engine := range persisttest.Engines(b) {
		for _, size := range []int{64 << 10, 8 << 20} {
			content := make([]byte, size)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range content {
				content[i] = byte(rng.Uint32())
			}
			name := fmt.Sprintf("%s/size=%dKiB", engine, size>>10)
			open := func(b *testing.B) (*persist.Store, string) {
				cfg := persist.Config{Dir: b.TempDir()}
				if engine == persisttest.Postgres {
					cfg = persisttest.PostgresConfig(b, cfg)
				}
				s, err := persist.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = s.Close() })
				u, err := s.CreateUser(b.Context(), persist.User{Email: uniq("bench") + "@example.com"}, persist.Workspace{Name: "W"})
				if err != nil {
					b.Fatal(err)
				}
				return s, u.DefaultWorkspaceID
			}
			b.Run(name+"/upload", func(b *testing.B) {
				s, ws := open(b)
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					// A byte of its own per upload: a new blob each time.
					binary.LittleEndian.PutUint64(content, uint64(i))
					if _, err := s.PutFile(b.Context(), persist.File{WorkspaceID: ws, Path: fmt.Sprintf("f%d", i%8)}, bytes.NewReader(content), 0); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run(name+"/download", func(b *testing.B) {
				s, ws := open(b)
				f, err := s.PutFile(b.Context(), persist.File{WorkspaceID: ws, Path: "f"}, bytes.NewReader(content), 0)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				buf := make([]byte, 32<<10)
				for b.Loop() {
					r, _, err := s.OpenFileContent(f.ID)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
						b.Fatal(err)
					}
					_ = r.Close()
				}
			})
		}
	}
}
