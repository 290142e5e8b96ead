package kubelet

import (
	"bytes"
	"io"
	"os"

	v1 "k8s.io/api/core/v1"
)

// Limits of termination messages, as upstream.
const (
	maxTerminationMessageBytes = 4096
	fallbackLogLines           = 80
	fallbackLogBytes           = 2048
)

// terminationMessage reads what an exited instance wrote to its
// terminationMessagePath, or with FallbackToLogsOnError and a failure, the
// tail of its log.
func (k *Kubelet) terminationMessage(pod *v1.Pod, spec *v1.Container, rc *runtimeContainer) string {
	path := k.terminationMessageFile(pod.UID, spec.Name, rc.RestartCount)
	msg, _ := readHead(path, maxTerminationMessageBytes)
	if len(msg) > 0 {
		return string(msg)
	}
	if terminationMessagePolicy(spec) == v1.TerminationMessageFallbackToLogsOnError && rc.ExitCode != 0 && rc.LogPath != "" {
		return string(tailCRILog(rc.LogPath, fallbackLogLines, fallbackLogBytes))
	}
	return ""
}

func readHead(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// tailCRILog returns the last lines of a CRI-format log file as the
// container wrote them: timestamps, stream names and tags stripped,
// partial lines joined, capped at maxBytes.
func tailCRILog(path string, lines, maxBytes int) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	// Only the end of the file matters; a generous window of it covers
	// the lines wanted even with long timestamps and tags.
	const window = 64 * 1024
	if st, err := f.Stat(); err == nil && st.Size() > window {
		if _, err := f.Seek(st.Size()-window, io.SeekStart); err != nil {
			return nil
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	out := decodeCRILog(data)
	out = lastLines(out, lines)
	if len(out) > maxBytes {
		out = out[len(out)-maxBytes:]
	}
	return out
}

// decodeCRILog turns "<time> <stream> <P|F> <text>" records into the text,
// adding the newline only after a full (F) record. Malformed records (such
// as a first one cut by the read window) are skipped.
func decodeCRILog(data []byte) []byte {
	var out bytes.Buffer
	for _, rec := range bytes.Split(data, []byte{'\n'}) {
		parts := bytes.SplitN(rec, []byte{' '}, 4)
		if len(parts) < 3 {
			continue
		}
		text := []byte{}
		if len(parts) == 4 {
			text = parts[3]
		}
		switch string(parts[2]) {
		case "P":
			out.Write(text)
		case "F":
			out.Write(text)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// lastLines keeps the last n lines of text.
func lastLines(text []byte, n int) []byte {
	end := len(text)
	if end > 0 && text[end-1] == '\n' {
		end--
	}
	count := 0
	for i := end - 1; i >= 0; i-- {
		if text[i] == '\n' {
			count++
			if count == n {
				return text[i+1:]
			}
		}
	}
	return text
}
