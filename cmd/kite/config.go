package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"kite/server"
)

// loadServerConfig layers the sources of server settings — command-line
// flag, then KITE_<FLAG> environment variable, then config file, then the
// flag's default — and turns the result into a validated server.Config.
// cobra has already parsed the command line into flags when it runs.
func loadServerConfig(flags *pflag.FlagSet, o *serverOptions, lookupEnv func(string) (string, bool), host hostInfo) (server.Config, error) {
	if err := layerFlags(flags, &o.configFile, lookupEnv); err != nil {
		return server.Config{}, err
	}
	return buildServerConfig(o, host)
}

// layerFlags fills every flag not given on the command line from the
// environment, then from the config file whose path *configFile holds.
func layerFlags(flags *pflag.FlagSet, configFile *string, lookupEnv func(string) (string, bool)) error {
	fromEnv, err := applyEnv(flags, lookupEnv)
	if err != nil {
		return err
	}
	// The config path itself is known only now: flag, then KITE_CONFIG.
	explicit := flags.Changed("config") || fromEnv["config"]
	entries, err := readConfigFile(*configFile, explicit)
	if err != nil {
		return err
	}
	return applyConfigFile(flags, *configFile, entries, fromEnv)
}

// envName is the environment variable that sets a flag: KITE_ followed by
// the flag name upper-cased with dashes as underscores.
func envName(flag string) string {
	return "KITE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable, and reports which flags it set. Empty variables
// count as unset, so `KITE_TOKEN= kite server` does not wipe a token from
// the config file.
func applyEnv(flags *pflag.FlagSet, lookupEnv func(string) (string, bool)) (map[string]bool, error) {
	fromEnv := map[string]bool{}
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := envName(f.Name)
		value, ok := lookupEnv(name)
		if !ok || value == "" {
			return
		}
		// Value.Set, not FlagSet.Set: the flag must not look as if it came
		// from the command line. A slice flag takes a comma-separated list.
		if setErr := f.Value.Set(value); setErr != nil {
			err = fmt.Errorf("environment variable %s: %s", name, badValue(f, value, setErr))
			return
		}
		fromEnv[f.Name] = true
	})
	return fromEnv, err
}

// configEntry is one `key: value` of the config file.
type configEntry struct {
	key    string
	line   int
	value  string   // scalar value
	list   []string // sequence value
	isList bool
}

// readConfigFile reads and parses the config file. A missing file is fine
// at the default path (most installs have none) but an error when the user
// named the file, since then they expect its settings to apply.
func readConfigFile(path string, explicit bool) ([]configEntry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, unwrapPathError(err))
	}
	entries, err := parseConfigFile(data)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return entries, nil
}

// unwrapPathError drops the path os.ReadFile repeats, since the caller
// already names the file.
func unwrapPathError(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// parseConfigFile turns YAML into entries, keeping line numbers so every
// complaint can point at the line to fix. It works on yaml.Node rather
// than decoding into a struct because the set of keys is the flag set.
func parseConfigFile(data []byte) ([]configEntry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // empty file
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return nil, nil // only comments
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected flag-name: value pairs, e.g. \"https-listen-port: 6443\"", top.Line)
	}
	var entries []configEntry
	seen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: keys must be flag names", k.Line)
		}
		if first, dup := seen[k.Value]; dup {
			return nil, fmt.Errorf("line %d: %s is already set on line %d", k.Line, k.Value, first)
		}
		seen[k.Value] = k.Line
		e := configEntry{key: k.Value, line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				continue // `key:` with no value leaves the default alone
			}
			e.value = v.Value
		case yaml.SequenceNode:
			e.isList = true
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("line %d: %s: list items must be plain values", item.Line, k.Value)
				}
				e.list = append(e.list, item.Value)
			}
		default:
			return nil, fmt.Errorf("line %d: %s: expected a value or a list", v.Line, k.Value)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// applyConfigFile sets flags from config entries, except flags already set
// on the command line or from the environment. Unknown keys are errors even
// when overridden, so a typo never goes unnoticed.
func applyConfigFile(flags *pflag.FlagSet, path string, entries []configEntry, fromEnv map[string]bool) error {
	for _, e := range entries {
		f := flags.Lookup(e.key)
		if f == nil || e.key == "config" {
			return fmt.Errorf("config file %s: line %d: unknown key %q (keys are `kite %s` flag names, e.g. %s)", path, e.line, e.key, flags.Name(), exampleKey[flags.Name()])
		}
		if f.Changed || fromEnv[e.key] {
			continue
		}
		if err := setFromConfig(f, e); err != nil {
			return fmt.Errorf("config file %s: line %d: %s: %w", path, e.line, e.key, err)
		}
	}
	return nil
}

// exampleKey is a config key each command's error messages show.
var exampleKey = map[string]string{"server": "https-listen-port", "agent": "node-name"}

func setFromConfig(f *pflag.Flag, e configEntry) error {
	slice, isSlice := f.Value.(pflag.SliceValue)
	switch {
	case e.isList && isSlice:
		// Replace, not Set: list items are taken as written, commas and all.
		return slice.Replace(e.list)
	case e.isList:
		return errors.New("takes a single value, not a list")
	}
	if err := f.Value.Set(e.value); err != nil {
		return errors.New(badValue(f, e.value, err))
	}
	return nil
}

// badValue words a rejected flag value for people, by the flag's type,
// rather than passing on strconv's "parsing "x": invalid syntax".
func badValue(f *pflag.Flag, value string, err error) string {
	switch f.Value.Type() {
	case "int":
		if _, convErr := strconv.Atoi(value); convErr != nil {
			return fmt.Sprintf("%q is not a whole number", value)
		}
	case "bool":
		return fmt.Sprintf("%q is not true or false", value)
	}
	return fmt.Sprintf("invalid value %q: %v", value, err)
}
