package server

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupCode tells the kernel that the pages of kite's own
// executable touched so far may go. Package initialisation touches code
// and tables in nearly every page of the binary (kubectl, etcdctl and the
// whole API machinery run their init functions) though a running server
// uses a small part of them; the rest would stay resident until memory
// pressure. They are clean file pages, so whatever is needed again is
// read back from the page cache.
func releaseStartupCode() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Only read-only mappings (code and constant data) of the binary:
		// writable data holds live state.
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// The range is not Go memory, so it goes to the system call as
		// plain numbers rather than as a slice.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT)
	}
}
