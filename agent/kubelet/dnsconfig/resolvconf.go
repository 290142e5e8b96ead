// Package dnsconfig computes a pod's resolver configuration (what the
// runtime writes to its /etc/resolv.conf) and writes the kubelet-managed
// /etc/hosts of a pod.
package dnsconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxResolvConfBytes bounds how much of the host's resolv.conf is read.
const maxResolvConfBytes = 10 << 20

// hostResolver is what the host's resolv.conf says.
type hostResolver struct {
	nameservers []string
	searches    []string
	options     []string
}

// readResolvConf parses a resolv.conf file; an empty path means the host
// has none.
func readResolvConf(path string) (hostResolver, error) {
	if path == "" {
		return hostResolver{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return hostResolver{}, fmt.Errorf("could not open resolv conf file: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxResolvConfBytes))
	if err != nil {
		return hostResolver{}, fmt.Errorf("read resolv conf file %s: %w", path, err)
	}
	return parseResolvConf(data), nil
}

// parseResolvConf follows the resolver's rules: nameserver lines
// accumulate, the last search line wins (a trailing dot is dropped so
// "a.com." and "a.com" count once), options accumulate with a later option
// of the same name replacing an earlier one.
func parseResolvConf(data []byte) hostResolver {
	var r hostResolver
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 0, 4096), maxResolvConfBytes)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) >= 2 {
				r.nameservers = append(r.nameservers, fields[1])
			}
		case "search":
			r.searches = r.searches[:0]
			for _, s := range fields[1:] {
				if s != "." {
					r.searches = append(r.searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			r.options = mergeOptions(r.options, fields[1:])
		}
	}
	return r
}

// mergeOptions adds options ("name" or "name:value"), a new one replacing an
// existing option of the same name in place.
func mergeOptions(options, more []string) []string {
	out := append([]string(nil), options...)
	for _, opt := range more {
		name, _, _ := strings.Cut(opt, ":")
		replaced := false
		for i, have := range out {
			if haveName, _, _ := strings.Cut(have, ":"); haveName == name {
				out[i] = opt
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, opt)
		}
	}
	return out
}
