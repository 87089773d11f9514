package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// The configuration file: -config FILE or SESHAT_CONFIG names a TOML
// (.toml) or YAML (.yaml, .yml) file of top-level settings, each under the
// settings table's key (addr = ":8090", data_dir = "/data"). Flags win over
// the environment, which wins over the file, which wins over the defaults.

// maxConfigFileBytes caps the configuration file.
const maxConfigFileBytes = 1 << 20

// fileValue is one setting read from a configuration file.
type fileValue struct {
	key, value string
	line       int
}

// configFilePath returns the file that args (-config FILE, -config=FILE,
// with one or two dashes) or else SESHAT_CONFIG names, or "".
func configFilePath(args []string, getenv func(string) string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return strings.TrimSpace(getenv("SESHAT_CONFIG"))
}

// readConfigFile reads and parses the file at path by its extension.
func readConfigFile(path string) ([]fileValue, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigFileBytes)
	}
	var vals []fileValue
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		vals, err = parseTOMLConfig(data)
	case ".yaml", ".yml":
		vals, err = parseYAMLConfig(data)
	default:
		return nil, fmt.Errorf("%s: want a .toml, .yaml or .yml file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vals, nil
}

// parseYAMLConfig reads a YAML mapping of scalars, with the line of each.
func parseYAMLConfig(data []byte) ([]fileValue, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of settings", root.Line)
	}
	var out []fileValue
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: %s: want a single value", k.Line, k.Value)
		}
		if v.Tag == "!!null" {
			continue
		}
		out = append(out, fileValue{key: k.Value, value: v.Value, line: k.Line})
	}
	return out, nil
}

// tomlKeyLine finds the line of a top-level key: BurntSushi/toml reports
// the line of syntax errors but not of keys.
var tomlKeyLine = regexp.MustCompile(`^\s*("?)([A-Za-z0-9_-]+)("?)\s*=`)

// parseTOMLConfig reads TOML top-level settings, with the line of each.
func parseTOMLConfig(data []byte) ([]fileValue, error) {
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		return nil, err
	}
	lines := map[string]int{}
	for i, l := range bytes.Split(data, []byte("\n")) {
		if g := tomlKeyLine.FindSubmatch(l); g != nil {
			if _, seen := lines[string(g[2])]; !seen {
				lines[string(g[2])] = i + 1
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lines[keys[i]] < lines[keys[j]] })
	out := make([]fileValue, 0, len(m))
	for _, k := range keys {
		line := lines[k]
		var s string
		switch v := m[k].(type) {
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case int64:
			s = strconv.FormatInt(v, 10)
		case float64:
			if v != math.Trunc(v) {
				return nil, fmt.Errorf("line %d: %s: want an integer", line, k)
			}
			s = strconv.FormatInt(int64(v), 10)
		default:
			return nil, fmt.Errorf("line %d: %s: want a single value (a string, number or boolean), not a table or list", line, k)
		}
		out = append(out, fileValue{key: k, value: s, line: line})
	}
	return out, nil
}

// applyConfigFile sets cfg's fields from vals. An unknown key or a bad
// value is an error naming the file and line.
func applyConfigFile(cfg *Config, path string, vals []fileValue) error {
	byKey := make(map[string]setting, len(settings))
	for _, s := range settings {
		if s.key != "" {
			byKey[s.key] = s
		}
	}
	var errs []error
	for _, v := range vals {
		s, ok := byKey[v.key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: unknown setting %q (seshat -help lists the settings; file keys are snake_case, e.g. data_dir)", path, v.line, v.key))
			continue
		}
		val := v.value
		if _, raw := s.field(cfg).(*[]byte); !raw {
			val = strings.TrimSpace(val)
		}
		if err := setValue(s.field(cfg), val); err != nil {
			shown := strconv.Quote(val)
			if s.secret {
				shown = "(secret)"
			}
			errs = append(errs, fmt.Errorf("%s:%d: %s = %s: %w", path, v.line, v.key, shown, err))
		}
	}
	return errors.Join(errs...)
}

// secretMask stands in for a secret that is set.
const secretMask = "********"

// writeEffectiveConfig prints cfg as a configuration file (TOML) of every
// setting that has a file key; secrets that are set are masked, and those
// left to the data dir say so.
func writeEffectiveConfig(w io.Writer, cfg Config) {
	fmt.Fprintln(w, "# The effective configuration: flags > environment > file > defaults.")
	for _, s := range settings {
		if s.key == "" {
			continue
		}
		var v string
		switch d := s.field(&cfg).(type) {
		case *string:
			v = strconv.Quote(*d)
			if s.secret && *d != "" {
				v = strconv.Quote(secretMask)
			}
		case *[]byte:
			switch {
			case len(*d) == 0:
				v = `"" # generated, kept in the data dir`
			case s.secret:
				v = strconv.Quote(secretMask)
			default:
				v = strconv.Quote(string(*d))
			}
		case *bool:
			v = strconv.FormatBool(*d)
		case *int:
			v = strconv.Itoa(*d)
		case *int64:
			v = strconv.FormatInt(*d, 10)
		case *time.Duration:
			v = strconv.Quote(d.String())
		}
		fmt.Fprintf(w, "%s = %s\n", s.key, v)
	}
}
