package skills_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/skills"
	"github.com/seshat-host/seshat/persist"
)

// description returns a description of about n characters, as skill
// descriptions run: what the skill does and when to use it.
func description(i, n int) string {
	s := fmt.Sprintf("Skill %d: handles one kind of task end to end. Use it when the user asks for that task", i)
	for len(s) < n {
		s += ", or something close to it"
	}
	return s[:n] + "."
}

// installSkills adds n global skills whose descriptions run from 80 to
// 320 characters (200 on average).
func installSkills(t testing.TB, f fixture, n int) {
	t.Helper()
	admin := skills.Caller{UserID: f.admin.ID, Admin: true}
	for i := range n {
		_, err := f.svc.CreateFromFields(t.Context(), admin, "", fmt.Sprintf("skill-%03d", i), description(i, 80+(i*97)%241), "instructions")
		require.NoError(t, err)
	}
}

// TestCatalogueAtScale reports what the catalogue costs a turn at 50 and
// 200 installed skills under the default budget: the figures of
// docs/perf.md. It checks the catalogue's invariants at each size: within
// the budget, the listed count equals the lines, and a truncation is
// reported with skills_truncated.
func TestCatalogueAtScale(t *testing.T) {
	for _, n := range []int{50, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newFixture(t, skills.Config{MaxPerScope: 1000})
			installSkills(t, f, n)
			c, err := f.svc.Extension().Prepare(t.Context(), setup(f.admin.DefaultWorkspaceID))
			require.NoError(t, err)
			chars := utf8.RuneCountInString(c.System)
			listed := strings.Count(c.System, "\n- ")
			require.LessOrEqual(t, chars, skills.DefaultBudget)
			all, _ := skills.Catalogue(mustList(t, f), 1<<30)
			full := utf8.RuneCountInString(all)
			if listed < n {
				require.Len(t, c.Events, 1)
				require.Equal(t, agent.RuntimeSkillsTruncated, c.Events[0].Runtime.Type)
				require.Equal(t, listed, c.Events[0].Runtime.Shown)
				require.Equal(t, n, c.Events[0].Runtime.Total)
			} else {
				require.Empty(t, c.Events)
			}
			t.Logf("installed %d skills: catalogue %d characters (budget %d; all %d would take %d), listed %d of %d",
				n, chars, skills.DefaultBudget, n, full, listed, n)
		})
	}
}

func mustList(t testing.TB, f fixture) []persist.Skill {
	t.Helper()
	list, err := f.store.Skills(nil)
	require.NoError(t, err)
	return list
}

// BenchmarkPrepare200 times a turn's catalogue with 200 installed skills:
// one store read of the records and the budgeted listing.
func BenchmarkPrepare200(b *testing.B) {
	f := newFixture(b, skills.Config{MaxPerScope: 1000})
	installSkills(b, f, 200)
	ext, st := f.svc.Extension(), setup(f.admin.DefaultWorkspaceID)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ext.Prepare(b.Context(), st); err != nil {
			b.Fatal(err)
		}
	}
}
