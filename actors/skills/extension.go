package skills

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// Tool names.
const (
	ToolLoad = "load_skill"
	ToolRead = "read_skill_file"
)

// maxToolOutput caps what load_skill and read_skill_file return to the
// model, in bytes.
const maxToolOutput = 128 << 10

// catalogueHeader opens the catalogue in the system prompt.
const catalogueHeader = "Skills hold instructions for particular tasks. When a task matches a skill's description, " +
	"call " + ToolLoad + " with the skill's name before you start and follow its instructions; " +
	ToolRead + " reads a file the instructions name. The host never runs a skill's scripts.\nAvailable skills:"

// Catalogue is the skills catalogue of a turn: the header and one line
// "- name: description" per skill, in rank order, as many as fit budget
// characters, with a closing line saying how many more there are when
// some do not fit. It returns the text and how many skills it lists; a
// budget too small for the header and one line lists none and returns "".
func Catalogue(list []persist.Skill, budget int) (string, int) {
	if len(list) == 0 {
		return "", 0
	}
	var b strings.Builder
	used := utf8.RuneCountInString(catalogueHeader)
	// The note is reserved at its longest, so a listing that stops early
	// always has room to say so.
	noteLen := utf8.RuneCountInString(truncatedNote(len(list)))
	shown := 0
	for i, sk := range list {
		line := "\n- " + sk.Name + ": " + oneLine(sk.Description)
		n := utf8.RuneCountInString(line)
		reserve := noteLen
		if i == len(list)-1 {
			reserve = 0
		}
		if used+n+reserve > budget {
			break
		}
		if shown == 0 {
			b.WriteString(catalogueHeader)
		}
		b.WriteString(line)
		used += n
		shown++
	}
	if shown == 0 {
		return "", 0
	}
	if shown < len(list) {
		b.WriteString(truncatedNote(len(list) - shown))
	}
	return b.String(), shown
}

func truncatedNote(more int) string {
	return "\n(" + strconv.Itoa(more) + " more skills are not listed for lack of room; " + ToolLoad + " loads any of them by its name.)"
}

// oneLine folds a description's whitespace runs into single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Extension returns the family's turn extension: the catalogue in the
// system prompt, load_skill and read_skill_file, and skills_truncated
// when the catalogue does not fit its budget. A turn with no skill
// available gets nothing.
func (s *Service) Extension() turn.Extension { return extension{s} }

type extension struct{ s *Service }

var _ turn.Extension = extension{}

// Prepare builds the turn's catalogue.
func (e extension) Prepare(ctx context.Context, st turn.Setup) (turn.Contribution, error) {
	profile, err := e.s.profileSkills(ctx, st.Context)
	if err != nil {
		return turn.Contribution{}, fmt.Errorf("skills of agent profile %s: %w", st.Context.AgentID, err)
	}
	list, err := e.s.available(ctx, st.WorkspaceID, profile)
	if err != nil {
		return turn.Contribution{}, err
	}
	if len(list) == 0 {
		return turn.Contribution{}, nil
	}
	text, shown := Catalogue(list, e.s.cfg.Budget)
	c := turn.Contribution{
		System: text,
		Tools:  []tool.Tool{loadTool{s: e.s, ws: st.WorkspaceID, profile: profile}, readTool{s: e.s, ws: st.WorkspaceID, profile: profile}},
	}
	if shown < len(list) {
		c.Events = []agent.Event{{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{
			Type: agent.RuntimeSkillsTruncated, Shown: shown, Total: len(list),
		}}}
		e.s.log.Debug("skills catalogue truncated", "session_id", st.SessionID, "shown", shown, "total", len(list), "budget", e.s.cfg.Budget)
	}
	return c, nil
}

type loadTool struct {
	s       *Service
	ws      string
	profile []string
}

func (loadTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{
		Name:        ToolLoad,
		Description: "Load a skill's instructions by its name (from the skills listed in the system prompt), with the list of its files.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string","description":"The skill's name."}},"required":["name"]}`),
	}
}
func (loadTool) NeedsApproval() bool { return false }
func (loadTool) ReadOnly() bool      { return true }

func (t loadTool) Run(ctx context.Context, call tool.Call) (string, error) {
	var in struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return "", &tool.InputError{Problem: err.Error()}
	}
	sk, err := t.s.lookup(t.ws, t.profile, in.Name)
	if err != nil {
		return "", err
	}
	sk, err = t.s.withBody(sk)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Skill %s: %s\n\n%s", sk.Name, oneLine(sk.Description), strings.TrimRight(sk.Body, "\n"))
	if len(sk.Files) > 1 {
		fmt.Fprintf(&b, "\n\nFiles of skill %s (read one with %s; scripts are never run):", sk.Name, ToolRead)
		for _, f := range sk.Files {
			if f.Path != persist.SkillManifest {
				fmt.Fprintf(&b, "\n- %s (%d bytes)", f.Path, f.Size)
			}
		}
	}
	return capOutput(b.String()), nil
}

type readTool struct {
	s       *Service
	ws      string
	profile []string
}

func (readTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{
		Name:        ToolRead,
		Description: "Read one file of a skill (a reference, a template or a script's source; scripts are never run).",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string","description":"The skill's name."},"path":{"type":"string","description":"The file's path inside the skill's folder, as load_skill lists it."}},"required":["name","path"]}`),
	}
}
func (readTool) NeedsApproval() bool { return false }
func (readTool) ReadOnly() bool      { return true }

func (t readTool) Run(ctx context.Context, call tool.Call) (string, error) {
	var in struct {
		Name string `json:"name"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return "", &tool.InputError{Problem: err.Error()}
	}
	sk, err := t.s.lookup(t.ws, t.profile, in.Name)
	if err != nil {
		return "", err
	}
	data, f, err := t.s.file(sk, strings.TrimPrefix(in.Path, "./"))
	if err != nil {
		return "", err
	}
	if !utf8.Valid(data) {
		return fmt.Sprintf("%s/%s is a binary file of %d bytes; it cannot be shown as text.", sk.Name, f.Path, f.Size), nil
	}
	return capOutput(string(data)), nil
}

// capOutput keeps a tool's output within maxToolOutput bytes, cut at a
// character boundary, and says so.
func capOutput(s string) string {
	if len(s) <= maxToolOutput {
		return s
	}
	cut := maxToolOutput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("\n\n[truncated: the first %d of %d bytes]", cut, len(s))
}
