package envvars

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// envFileValue reads key from an env file as fileKeyRef defines it: lines
// NAME='value' (single quotes required, taken literally, may span lines),
// blank lines and # comments ignored, a comment allowed after the closing
// quote. "NAME= 'x'" (space after =) assigns the empty string, as a shell
// would. It returns "" when key is absent.
func envFileValue(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("failed to open environment variable file %q: %w", path, err)
	}
	defer func() { _ = f.Close() }()

	scanner := bufio.NewScanner(f)
	lineNum := 0
	for scanner.Scan() {
		lineNum++
		line := strings.TrimLeft(scanner.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, "=")
		if !ok {
			return "", fmt.Errorf("invalid environment variable format at line %d: missing '='", lineNum)
		}
		if name == "" {
			return "", fmt.Errorf("invalid environment variable format at line %d: empty variable name", lineNum)
		}
		if strings.TrimRight(name, " \t") != name {
			return "", fmt.Errorf("invalid environment variable format at line %d: whitespace before '=' is not allowed", lineNum)
		}
		if strings.TrimLeft(rest, " \t") != rest {
			if name == key {
				return "", nil
			}
			continue
		}
		if !strings.HasPrefix(rest, "'") {
			return "", fmt.Errorf("invalid environment variable format at line %d: value must be enclosed in single quotes", lineNum)
		}
		rest = rest[1:]
		start := lineNum
		var value strings.Builder
		for {
			closing := strings.IndexByte(rest, '\'')
			if closing >= 0 {
				value.WriteString(rest[:closing])
				after := strings.TrimLeft(rest[closing+1:], " \t")
				if after != "" && !strings.HasPrefix(after, "#") {
					return "", fmt.Errorf("invalid environment variable format at line %d: unexpected content after closing quote", lineNum)
				}
				break
			}
			value.WriteString(rest)
			value.WriteByte('\n')
			if !scanner.Scan() {
				return "", fmt.Errorf("invalid environment variable format starting at line %d: unclosed single quote", start)
			}
			lineNum++
			rest = scanner.Text()
		}
		if name == key {
			return value.String(), nil
		}
	}
	if err := scanner.Err(); err != nil {
		return "", fmt.Errorf("error reading environment variable file %q: %w", path, err)
	}
	return "", nil
}

// fileInVolume joins rel to the volume directory and makes sure the result,
// with symlinks resolved, is still inside the volume.
func fileInVolume(volumeDir, rel string) (string, error) {
	root, err := filepath.EvalSymlinks(volumeDir)
	if err != nil {
		return "", fmt.Errorf("resolve volume directory %q: %w", volumeDir, err)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Join(root, rel))
	if err != nil {
		return "", fmt.Errorf("resolve %q in volume: %w", rel, err)
	}
	if resolved != root && !strings.HasPrefix(resolved, root+string(filepath.Separator)) {
		return "", fmt.Errorf("path %q points outside its volume", rel)
	}
	return resolved, nil
}
