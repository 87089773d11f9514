package skills

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Limits of the Agent Skills format.
const (
	MaxNameLen          = 64
	MaxDescriptionLen   = 1024
	MaxCompatibilityLen = 500
	// maxFrontMatter caps the YAML a SKILL.md may hold before its
	// instructions, so that no document makes the decoder work hard.
	maxFrontMatter = 64 << 10
)

// Rules a skill can break; a FormatError names one.
const (
	RuleFrontMatter   = "front_matter"
	RuleField         = "unknown_field"
	RuleName          = "name"
	RuleNameFolder    = "name_folder"
	RuleDescription   = "description"
	RuleCompatibility = "compatibility"
	RuleLicense       = "license"
	RuleMetadata      = "metadata"
	RuleAllowedTools  = "allowed_tools"
	RuleLayout        = "layout"
	RulePath          = "path"
	RuleLink          = "link"
	RuleSize          = "size"
	RuleFileCount     = "file_count"
	RuleArchive       = "archive"
)

// FormatError is a skill or an archive that breaks a rule of the format
// or of the host's limits. It wraps agent.ErrInvalid, so the API answers
// 400 with its message, which names the rule.
type FormatError struct {
	// Rule is one of the Rule constants.
	Rule string
	// Msg says what is wrong, for the client.
	Msg string
}

// Error returns the message with the rule.
func (e *FormatError) Error() string { return "invalid skill (" + e.Rule + "): " + e.Msg }

// Unwrap makes the error an agent.ErrInvalid.
func (e *FormatError) Unwrap() error { return agent.ErrInvalid }

func broken(rule, format string, args ...any) error {
	return &FormatError{Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

// frontMatterFields are the fields the Agent Skills format defines.
var frontMatterFields = []string{"name", "description", "license", "compatibility", "metadata", "allowed-tools"}

// Manifest is a parsed SKILL.md.
type Manifest struct {
	Name          string
	Description   string
	License       string
	Compatibility string
	Metadata      map[string]string
	AllowedTools  []string
	// Body is the Markdown after the front matter.
	Body string
}

// ParseManifest parses a SKILL.md of a skill kept in folder and checks it
// against the format: YAML front matter between "---" lines with only the
// format's fields; a name of 1 to 64 of a-z, 0-9 and "-" (no leading,
// trailing or double "-") equal to the folder's name; a description of 1
// to 1024 characters; a compatibility of at most 500; metadata of string
// values; allowed-tools as a space-separated string or a list.
func ParseManifest(folder string, data []byte) (Manifest, error) {
	var m Manifest
	if !utf8.Valid(data) {
		return m, broken(RuleFrontMatter, "SKILL.md is not UTF-8 text")
	}
	text := strings.TrimPrefix(string(data), "\ufeff")
	yml, body, ok := splitFrontMatter(text)
	if !ok {
		return m, broken(RuleFrontMatter, "SKILL.md must start with YAML front matter between two --- lines")
	}
	if len(yml) > maxFrontMatter {
		return m, broken(RuleFrontMatter, "the front matter is longer than %d bytes", maxFrontMatter)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(yml), &doc); err != nil {
		return m, broken(RuleFrontMatter, "the front matter is not valid YAML: %s", yamlMessage(err))
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return m, broken(RuleFrontMatter, "the front matter must be a YAML mapping of fields")
	}
	fields := map[string]*yaml.Node{}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !slices.Contains(frontMatterFields, k.Value) {
			return m, broken(RuleField, "front matter field %q is not part of the Agent Skills format (allowed: %s)", k.Value, strings.Join(frontMatterFields, ", "))
		}
		if _, dup := fields[k.Value]; dup {
			return m, broken(RuleFrontMatter, "front matter field %q is given twice", k.Value)
		}
		fields[k.Value] = v
	}
	var err error
	if m.Name, err = stringField(fields, "name", RuleName, true); err != nil {
		return m, err
	}
	if err := CheckName(m.Name); err != nil {
		return m, err
	}
	if m.Name != folder {
		return m, broken(RuleNameFolder, "name %q must equal the name of its folder %q", m.Name, folder)
	}
	if m.Description, err = stringField(fields, "description", RuleDescription, true); err != nil {
		return m, err
	}
	if err := CheckDescription(m.Description); err != nil {
		return m, err
	}
	if m.License, err = stringField(fields, "license", RuleLicense, false); err != nil {
		return m, err
	}
	if utf8.RuneCountInString(m.License) > MaxDescriptionLen {
		return m, broken(RuleLicense, "license is longer than %d characters", MaxDescriptionLen)
	}
	if m.Compatibility, err = stringField(fields, "compatibility", RuleCompatibility, false); err != nil {
		return m, err
	}
	if _, given := fields["compatibility"]; given && strings.TrimSpace(m.Compatibility) == "" {
		return m, broken(RuleCompatibility, "compatibility must not be empty when given")
	}
	if n := utf8.RuneCountInString(m.Compatibility); n > MaxCompatibilityLen {
		return m, broken(RuleCompatibility, "compatibility is %d characters, more than %d", n, MaxCompatibilityLen)
	}
	if m.Metadata, err = metadataField(fields["metadata"]); err != nil {
		return m, err
	}
	if m.AllowedTools, err = toolsField(fields["allowed-tools"]); err != nil {
		return m, err
	}
	m.Body = body
	return m, nil
}

// CheckName checks a skill name against the format's rules.
func CheckName(name string) error {
	switch {
	case name == "":
		return broken(RuleName, "name is required")
	case len(name) > MaxNameLen:
		return broken(RuleName, "name is %d characters, more than %d", len(name), MaxNameLen)
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return broken(RuleName, "name %q must not start or end with a hyphen", name)
	case strings.Contains(name, "--"):
		return broken(RuleName, "name %q must not contain two hyphens in a row", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return broken(RuleName, "name %q may hold only lower-case letters a-z, digits and hyphens", name)
		}
	}
	return nil
}

// CheckDescription checks a description against the format's rules.
func CheckDescription(d string) error {
	if strings.TrimSpace(d) == "" {
		return broken(RuleDescription, "description is required")
	}
	if n := utf8.RuneCountInString(d); n > MaxDescriptionLen {
		return broken(RuleDescription, "description is %d characters, more than %d", n, MaxDescriptionLen)
	}
	return nil
}

// splitFrontMatter cuts "---\nYAML\n---\nBODY" into YAML and BODY.
func splitFrontMatter(text string) (yml, body string, ok bool) {
	first, rest, found := strings.Cut(text, "\n")
	if !found || strings.TrimRight(first, " \t\r") != "---" {
		return "", "", false
	}
	var lines []string
	for rest != "" {
		line, after, _ := strings.Cut(rest, "\n")
		if strings.TrimRight(line, " \t\r") == "---" {
			return strings.Join(lines, "\n"), strings.TrimLeft(after, "\r\n"), true
		}
		lines = append(lines, line)
		rest = after
	}
	return "", "", false
}

func yamlMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func stringField(fields map[string]*yaml.Node, name, rule string, required bool) (string, error) {
	n, ok := fields[name]
	if !ok || n.Tag == "!!null" {
		if required {
			return "", broken(rule, "%s is required", name)
		}
		return "", nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", broken(rule, "%s must be a string", name)
	}
	return n.Value, nil
}

func metadataField(n *yaml.Node) (map[string]string, error) {
	if n == nil || n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, broken(RuleMetadata, "metadata must be a mapping of string keys to string values")
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return nil, broken(RuleMetadata, "metadata must be a mapping of string keys to string values (%q is not)", k.Value)
		}
		out[k.Value] = v.Value
	}
	return out, nil
}

func toolsField(n *yaml.Node) ([]string, error) {
	if n == nil || n.Tag == "!!null" {
		return nil, nil
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		return strings.Fields(n.Value), nil
	case n.Kind == yaml.SequenceNode:
		var out []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
				return nil, broken(RuleAllowedTools, "allowed-tools must be a space-separated string or a list of strings")
			}
			out = append(out, item.Value)
		}
		return out, nil
	}
	return nil, broken(RuleAllowedTools, "allowed-tools must be a space-separated string or a list of strings")
}

// Build checks the files of one skill folder (paths relative to it) and
// returns its record, with the store's fields (id, scope, source, times)
// left for the caller, and its manifest.
func Build(folder string, files map[string][]byte) (persist.Skill, Manifest, error) {
	data, ok := files[persist.SkillManifest]
	if !ok {
		return persist.Skill{}, Manifest{}, broken(RuleLayout, "the folder %q has no %s", folder, persist.SkillManifest)
	}
	m, err := ParseManifest(folder, data)
	if err != nil {
		return persist.Skill{}, Manifest{}, err
	}
	sk := persist.Skill{
		Name: m.Name, Description: m.Description, License: m.License, Compatibility: m.Compatibility,
		Metadata: m.Metadata, AllowedTools: m.AllowedTools, Enabled: true, Body: m.Body,
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	digest := sha256.New()
	for _, p := range paths {
		sum := sha256.Sum256(files[p])
		hexSum := hex.EncodeToString(sum[:])
		sk.Files = append(sk.Files, persist.SkillFile{Path: p, Size: int64(len(files[p])), SHA256: hexSum})
		fmt.Fprintf(digest, "%s\x00%s\n", p, hexSum)
	}
	sk.Digest = hex.EncodeToString(digest.Sum(nil))
	return sk, m, nil
}

// Compose writes the SKILL.md of a skill given as fields.
func Compose(name, description, body string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("---\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	err := enc.Encode(map[string]string{"name": name, "description": description})
	if err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	buf.WriteString("---\n")
	buf.WriteString(body)
	return buf.Bytes(), nil
}
