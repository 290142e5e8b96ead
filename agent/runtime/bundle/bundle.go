// Package bundle installs the programs the kite binary carries under
// <data-dir>/bin, to run as separate processes: containerd and its runc
// shim. They are small programs of their own (cmd/containerd,
// cmd/containerd-shim-runc-v2) rather than kite re-executed under another
// name, because every kite process pays kite's whole package
// initialisation (about 250 ms and 16 MB, mostly the API machinery and
// kubectl), and containerd starts a shim for every pod.
//
// `make build` appends them to the kite executable as a tar archive
// followed by a trailer, as k3s carries its own programs, and they are
// read back from the file rather than embedded in the program: embedded
// data is mapped into kite's memory, and 48 MB of it copied out once
// would stay in kite's resident set.
package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"kite/internal/atomicfile"
)

// Containerd is the name of the containerd program in the bundle.
const Containerd = "containerd"

// sumsFile, the archive's first entry, lists the bundled programs with
// their SHA-256, as sha256sum prints them; an installed copy of it marks
// an installation complete.
const sumsFile = "SHA256SUMS"

// The trailer is the executable's last trailerSize bytes: trailerMagic,
// the archive's length in 19 decimal digits, and a newline. The archive
// ends where the trailer begins.
const (
	trailerMagic = "KITE-BUNDLE "
	trailerSize  = len(trailerMagic) + 19 + 1
)

// ErrNotBundled means the binary was built without its programs.
var ErrNotBundled = errors.New("this kite binary was built without its containerd: build it with `make build`")

// Install writes the programs appended to the running executable into
// dir, unless the same ones are already there.
func Install(dir string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the kite executable: %w", err)
	}
	f, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer f.Close()
	archive, err := openArchive(f)
	if err != nil {
		return err
	}
	return install(archive, dir)
}

// openArchive finds the archive the trailer of f points at.
func openArchive(f *os.File) (io.Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size < int64(trailerSize) {
		return nil, ErrNotBundled
	}
	trailer := make([]byte, trailerSize)
	if _, err := f.ReadAt(trailer, size-int64(trailerSize)); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	if !bytes.HasPrefix(trailer, []byte(trailerMagic)) || trailer[trailerSize-1] != '\n' {
		return nil, ErrNotBundled
	}
	n, err := strconv.ParseInt(string(trailer[len(trailerMagic):trailerSize-1]), 10, 64)
	if err != nil || n <= 0 || n > size-int64(trailerSize) {
		return nil, fmt.Errorf("%s has a malformed bundle trailer %q", f.Name(), trailer)
	}
	return io.NewSectionReader(f, size-int64(trailerSize)-n, n), nil
}

func install(archive io.Reader, dir string) error {
	tr := tar.NewReader(archive)
	hdr, err := tr.Next()
	if err != nil {
		return fmt.Errorf("reading the bundle: %w", err)
	}
	if hdr.Name != sumsFile {
		return fmt.Errorf("the bundle starts with %q, not %s", hdr.Name, sumsFile)
	}
	sums, err := io.ReadAll(tr)
	if err != nil {
		return fmt.Errorf("reading the bundle: %w", err)
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
	for missing := len(programs); missing > 0; missing-- {
		hdr, err := tr.Next()
		if err != nil {
			return fmt.Errorf("reading the bundle (%d programs missing): %w", missing, err)
		}
		sum, ok := programs[hdr.Name]
		if !ok {
			return fmt.Errorf("the bundle holds %q, which %s does not list", hdr.Name, sumsFile)
		}
		if err := installProgram(tr, hdr.Name, sum, filepath.Join(dir, hdr.Name)); err != nil {
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
// on the way so a damaged binary is never put in place.
func installProgram(r io.Reader, name, sum, dst string) error {
	h := sha256.New()
	checked := &checkedReader{r: io.TeeReader(r, h), hash: h, want: sum, name: name}
	if err := atomicfile.WriteFrom(dst, checked, 0o755); err != nil {
		return fmt.Errorf("installing %s: %w", name, err)
	}
	return nil
}

// checkedReader fails the copy at EOF when the content's hash differs from
// the expected one, so the file is never renamed into place.
type checkedReader struct {
	r    io.Reader
	hash hash.Hash
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
		if !ok || len(sum) != sha256.Size*2 || !fs.ValidPath(name) || name == "." || name != path.Base(name) || name == sumsFile {
			return nil, fmt.Errorf("bundled %s: malformed line %q", sumsFile, line)
		}
		programs[name] = sum
	}
	if len(programs) == 0 {
		return nil, fmt.Errorf("bundled %s lists no programs", sumsFile)
	}
	return programs, sc.Err()
}
