// Package envvars builds a container's environment the way the kubelet does:
// literal values with $(VAR) references, values from pod fields, container
// resources, ConfigMaps and Secrets, envFrom sources and the docker-link
// style variables of Services.
package envvars

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Expand replaces each $(NAME) in s with lookup(NAME). A reference lookup
// does not know is kept as written, "$$" stands for a literal "$", and a "$"
// that starts no reference (including an unterminated "$(") is kept.
func Expand(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var out strings.Builder
	out.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			out.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			out.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unterminated: the "$(" is literal and scanning resumes
				// after it, so a later "$(X)" inside still expands.
				out.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if value, ok := lookup(name); ok {
				out.WriteString(value)
			} else {
				out.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			out.WriteByte('$')
			out.WriteByte(next)
			i++
		}
	}
	return out.String()
}

// lookupIn looks a name up in the first map that has it.
func lookupIn(maps ...map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}

// ExpandStatic expands $(VAR) references in each string using only the
// literal values of env (variables with valueFrom count as empty), as the
// kubelet does for probe commands.
func ExpandStatic(strs []string, env []v1.EnvVar) []string {
	values := make(map[string]string, len(env))
	for _, e := range env {
		values[e.Name] = e.Value
	}
	out := make([]string, len(strs))
	for i, s := range strs {
		out[i] = Expand(s, lookupIn(values))
	}
	return out
}
