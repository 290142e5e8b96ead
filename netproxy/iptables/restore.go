package iptables

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// restoreTimeout bounds one iptables-restore run; a very large ruleset on
// a busy node takes seconds, never minutes.
const restoreTimeout = 2 * time.Minute

// runRestore feeds payload to iptables-restore, keeping every rule and
// chain it does not mention.
func runRestore(path string, payload []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--noflush", "--wait", strconv.Itoa(waitSeconds))
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s%s", path, err, bytes.TrimSpace(stderr.Bytes()), failingLine(stderr.Bytes(), payload))
	}
	return nil
}

// failingLine quotes the input line iptables-restore complained about
// ("line 12 failed"), which its message alone does not show.
func failingLine(stderr, payload []byte) string {
	i := bytes.Index(stderr, []byte("line "))
	if i < 0 {
		return ""
	}
	rest := stderr[i+len("line "):]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(string(rest[:end]))
	if err != nil || n < 1 {
		return ""
	}
	all := bytes.Split(payload, []byte("\n"))
	if n > len(all) {
		return ""
	}
	return fmt.Sprintf(" (line %d: %s)", n, all[n-1])
}
