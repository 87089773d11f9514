package skills_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/skills"
)

func TestParseManifestFollowsTheFormat(t *testing.T) {
	ok, err := skills.ParseManifest("pdf-tools", []byte("\ufeff---\nname: pdf-tools\ndescription: >\n  Extract text\n  from PDFs.\nlicense: Apache-2.0\ncompatibility: needs python3\n"+
		"metadata:\n  author: someone\n  version: 1.0\nallowed-tools: Read Bash(python:*)\n---\n\n# PDF\nUse it.\n"))
	require.NoError(t, err)
	require.Equal(t, skills.Manifest{
		Name: "pdf-tools", Description: "Extract text from PDFs.\n", License: "Apache-2.0", Compatibility: "needs python3",
		Metadata: map[string]string{"author": "someone", "version": "1.0"}, AllowedTools: []string{"Read", "Bash(python:*)"},
		Body: "# PDF\nUse it.\n",
	}, ok)
	list, err := skills.ParseManifest("x", []byte("---\nname: x\ndescription: d\nallowed-tools: [Read, Write]\n---\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"Read", "Write"}, list.AllowedTools)
	require.Empty(t, list.Body)

	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		name, folder, md, rule, says string
	}{
		{"no front matter", "x", "# just markdown", skills.RuleFrontMatter, "must start with YAML front matter"},
		{"unclosed front matter", "x", "---\nname: x\n", skills.RuleFrontMatter, "between two --- lines"},
		{"not yaml", "x", "---\nname: [x\n---\n", skills.RuleFrontMatter, "not valid YAML"},
		{"not a mapping", "x", "---\n- a\n---\n", skills.RuleFrontMatter, "mapping"},
		{"unknown field", "x", "---\nname: x\ndescription: d\nversion: 2\n---\n", skills.RuleField, `"version" is not part of the Agent Skills format`},
		{"no name", "x", "---\ndescription: d\n---\n", skills.RuleName, "name is required"},
		{"name not a string", "1", "---\nname: 1\ndescription: d\n---\n", skills.RuleName, "name must be a string"},
		{"upper case", "Pdf", "---\nname: Pdf\ndescription: d\n---\n", skills.RuleName, "lower-case letters a-z"},
		{"underscore", "a_b", "---\nname: a_b\ndescription: d\n---\n", skills.RuleName, "lower-case letters a-z"},
		{"leading hyphen", "-a", "---\nname: -a\ndescription: d\n---\n", skills.RuleName, "start or end with a hyphen"},
		{"trailing hyphen", "a-", "---\nname: a-\ndescription: d\n---\n", skills.RuleName, "start or end with a hyphen"},
		{"double hyphen", "a--b", "---\nname: a--b\ndescription: d\n---\n", skills.RuleName, "two hyphens in a row"},
		{"too long", long, "---\nname: " + long + "\ndescription: d\n---\n", skills.RuleName, "more than 64"},
		{"folder mismatch", "pdf", "---\nname: pdf-tools\ndescription: d\n---\n", skills.RuleNameFolder, `must equal the name of its folder "pdf"`},
		{"no description", "x", "---\nname: x\n---\n", skills.RuleDescription, "description is required"},
		{"blank description", "x", "---\nname: x\ndescription: '  '\n---\n", skills.RuleDescription, "description is required"},
		{"long description", "x", "---\nname: x\ndescription: " + strings.Repeat("é", 1025) + "\n---\n", skills.RuleDescription, "1025 characters, more than 1024"},
		{"long compatibility", "x", "---\nname: x\ndescription: d\ncompatibility: " + strings.Repeat("c", 501) + "\n---\n", skills.RuleCompatibility, "more than 500"},
		{"nested metadata", "x", "---\nname: x\ndescription: d\nmetadata:\n  a: {b: c}\n---\n", skills.RuleMetadata, "string values"},
		{"tools not strings", "x", "---\nname: x\ndescription: d\nallowed-tools: {a: b}\n---\n", skills.RuleAllowedTools, "space-separated string or a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := skills.ParseManifest(tc.folder, []byte(tc.md))
			var fe *skills.FormatError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tc.rule, fe.Rule)
			require.Contains(t, err.Error(), tc.says)
			require.ErrorIs(t, err, agent.ErrInvalid, "a broken rule is a 400")
		})
	}
	desc1024 := strings.Repeat("é", 1024)
	_, err = skills.ParseManifest("x", []byte("---\nname: x\ndescription: "+desc1024+"\n---\n"))
	require.NoError(t, err, "1024 characters are counted as characters, not bytes")
	_, err = skills.ParseManifest(strings.Repeat("a", 64), []byte("---\nname: "+strings.Repeat("a", 64)+"\ndescription: d\n---\n"))
	require.NoError(t, err)
}
