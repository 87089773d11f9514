package persist_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// BenchmarkSaveSession measures the store's side of a one-shot turn, in one
// transaction per op: the session's creation, the save at its turn's start
// (the user's message) and the save at its end (the answer), as the session
// actor writes them. The time includes a commit (without fsync), the
// allocations bbolt's too; compare allocs/op and B/op.
func BenchmarkSaveSession(b *testing.B) {
	s := persisttest.Open(b)
	u, err := s.CreateUser(b.Context(), persist.User{Email: "save@example.com", Name: "S"}, persist.Workspace{Name: "Personal"})
	if err != nil {
		b.Fatal(err)
	}
	question := "Say hello to the gateway bench, and tell me about the weather in Lisbon today"
	answer := strings.Repeat("Hello from the mock upstream, here is a word of the answer. ", 6)
	snap := persist.Snapshot{Version: 2, Data: []byte(strings.Repeat(`{"usage":{"input_tokens":12,"output_tokens":34}}`, 8))}
	userMsg := fmt.Appendf(nil, `{"role":"user","content":[{"type":"text","text":%q}],"created_at":"2026-12-04T18:00:00Z"}`, question)
	answerMsg := fmt.Appendf(nil, `{"role":"assistant","content":[{"type":"text","text":%q}],"created_at":"2026-12-04T18:00:01Z"}`, answer)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		rec := persist.Session{
			ID: fmt.Sprintf("sess_bench%08d", n), WorkspaceID: u.DefaultWorkspaceID, UserID: u.ID,
			Model: "anthropic:claude-sonnet-4-5", PermissionMode: "default", Status: "idle",
			CreatedAt: time.Now(),
		}
		err := s.Update(b.Context(), func(tx *persist.Tx) error {
			if err := tx.CreateSession(rec); err != nil {
				return err
			}
			rec.Title, rec.Status, rec.MessageCount = question[:40], "running", 1
			if err := tx.SaveSession(persist.SessionSave{
				Session: rec, Snapshot: snap, IndexText: question, Messages: [][]byte{userMsg},
			}); err != nil {
				return err
			}
			rec.Status, rec.MessageCount, rec.InputTokens, rec.OutputTokens = "idle", 2, 12, 34
			return tx.SaveSession(persist.SessionSave{
				Session: rec, Snapshot: snap, IndexText: answer, Messages: [][]byte{answerMsg}, MessagesFrom: 1,
			})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
