// Package bundle carries the programs the kite binary installs under
// <data-dir>/bin and runs as separate processes: containerd and its runc
// shim. They are small programs of their own (cmd/containerd,
// cmd/containerd-shim-runc-v2) rather than kite re-executed under another
// name, because every kite process pays kite's whole package
// initialisation (about 250 ms and 16 MB, mostly the API machinery and
// kubectl), and containerd starts a shim for every pod.
package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"kite/internal/atomicfile"
)

// Containerd is the name of the containerd program in the bundle.
const Containerd = "containerd"

// sumsFile lists the bundled programs with their SHA-256, as sha256sum
// prints them; an installed copy of it marks an installation complete.
const sumsFile = "SHA256SUMS"

// ErrNotBundled means the binary was built without its programs.
var ErrNotBundled = errors.New("this kite binary was built without its containerd: build it with `make build`")

// files is filled by `make build` (see files/README.md).
//
//go:embed files
var files embed.FS

// Install writes the bundled programs into dir, unless the same ones are
// already there, and returns quickly when they are.
func Install(dir string) error {
	sub, err := fs.Sub(files, "files")
	if err != nil {
		return err
	}
	return install(sub, dir)
}

func install(bundled fs.FS, dir string) error {
	sums, err := fs.ReadFile(bundled, sumsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotBundled
	}
	if err != nil {
		return err
	}
	programs, err := parseSums(sums)
	if err != nil {
		return err
	}
	if installed(dir, sums, programs) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, sum := range programs {
		if err := installProgram(bundled, name, sum, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	// Last: the installation counts as complete only once every program is.
	return atomicfile.WriteFile(filepath.Join(dir, sumsFile), sums, 0o644)
}

// installed reports whether dir holds this bundle's programs already.
func installed(dir string, sums []byte, programs map[string]string) bool {
	have, err := os.ReadFile(filepath.Join(dir, sumsFile))
	if err != nil || !bytes.Equal(have, sums) {
		return false
	}
	for name := range programs {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// installProgram copies one program to dst, checking it against its sum
// on the way so a build that mixed up its programs is caught here.
func installProgram(bundled fs.FS, name, sum, dst string) error {
	f, err := bundled.Open(name)
	if err != nil {
		return fmt.Errorf("bundled %s: %w", name, err)
	}
	defer f.Close()
	h := sha256.New()
	if err := atomicfile.WriteFrom(dst, &checkedReader{r: io.TeeReader(f, h), hash: h, want: sum, name: name}, 0o755); err != nil {
		return fmt.Errorf("installing %s: %w", name, err)
	}
	return nil
}

// checkedReader fails the copy at EOF when the content's hash differs from
// the expected one, so the file is never renamed into place.
type checkedReader struct {
	r    io.Reader
	hash interface{ Sum([]byte) []byte }
	want string
	name string
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		if got := hex.EncodeToString(c.hash.Sum(nil)); got != c.want {
			return n, fmt.Errorf("bundled %s has SHA-256 %s, %s lists %s", c.name, got, sumsFile, c.want)
		}
	}
	return n, err
}

// parseSums reads sha256sum's output: "<hex>  <name>" per line.
func parseSums(sums []byte) (map[string]string, error) {
	programs := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		if !ok || len(sum) != sha256.Size*2 || name == "" || name != path.Base(name) {
			return nil, fmt.Errorf("bundled %s: malformed line %q", sumsFile, line)
		}
		programs[name] = sum
	}
	if len(programs) == 0 {
		return nil, fmt.Errorf("bundled %s lists no programs", sumsFile)
	}
	return programs, sc.Err()
}
