package pause

import (
	"debug/elf"
	"fmt"
)

// machine describes how to package the pause code for one architecture.
type machine struct {
	elfMachine elf.Machine
	// pageSize is the largest page size the architecture's kernels use, so
	// the segment loads whatever page size the kernel was built with.
	pageSize uint64
	code     []byte
}

var machines = map[string]machine{
	"amd64": {elfMachine: elf.EM_X86_64, pageSize: 0x1000, code: amd64Code},
	"arm64": {elfMachine: elf.EM_AARCH64, pageSize: 0x10000, code: arm64Code},
}

// Program returns the pause executable for a Go architecture name ("amd64"
// or "arm64"): a static ELF that blocks SIGINT, SIGTERM and SIGCHLD, reaps
// children on SIGCHLD and exits 0 on SIGINT or SIGTERM.
func Program(goarch string) ([]byte, error) {
	m, ok := machines[goarch]
	if !ok {
		return nil, fmt.Errorf("pause program: architecture %q is not supported (amd64, arm64 are)", goarch)
	}
	return elfExecutable(m.elfMachine, m.pageSize, m.code), nil
}
