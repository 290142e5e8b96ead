package ingress

import (
	"context"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// accessLogFlushInterval bounds how long a line waits in the buffer.
	accessLogFlushInterval = 100 * time.Millisecond
	// accessLogBufferSize bounds one write. A pipe (journald's) takes
	// writes up to this size whole, so lines from other writers of the
	// same stderr never land inside a batch.
	accessLogBufferSize = 4096
)

// accessEntry is what the access log says about one request.
type accessEntry struct {
	ingress, host, method, path string
	status                      int
	duration                    time.Duration
	upstream, client            string
}

// accessLog writes one line per request in the format of slog's text
// handler, with the fields the proxy's Logger would get, but formats them
// itself and writes the lines in batches: formatting through slog and one
// write per request were a good share of the CPU a request costs.
type accessLog struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	// errReported is set once a failed write was reported.
	errReported bool
}

func newAccessLog(w io.Writer) *accessLog {
	return &accessLog{w: w, buf: make([]byte, 0, 2*accessLogBufferSize)}
}

// record appends the line for e, written now or by the next flush.
func (l *accessLog) record(now time.Time, e *accessEntry) {
	l.mu.Lock()
	b := l.buf
	start := len(b)
	b = append(b, "time="...)
	b = now.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " level=INFO msg=request component=ingress ingress="...)
	b = appendLogValue(b, e.ingress)
	b = append(b, " host="...)
	b = appendLogValue(b, e.host)
	b = append(b, " method="...)
	b = appendLogValue(b, e.method)
	b = append(b, " path="...)
	b = appendLogValue(b, e.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, " duration="...)
	b = appendLogValue(b, e.duration.String())
	b = append(b, " upstream="...)
	b = appendLogValue(b, e.upstream)
	b = append(b, " client="...)
	b = appendLogValue(b, e.client)
	b = append(b, '\n')
	l.buf = b
	if len(b) > accessLogBufferSize && start > 0 {
		// Write the lines before this one, and keep it for the next write.
		l.buf = b[:start]
		l.flushLocked()
		l.buf = append(l.buf, b[start:]...)
	}
	if len(l.buf) >= accessLogBufferSize {
		l.flushLocked()
	}
	l.mu.Unlock()
}

// flush writes the collected lines.
func (l *accessLog) flush() {
	l.mu.Lock()
	l.flushLocked()
	l.mu.Unlock()
}

func (l *accessLog) flushLocked() {
	if len(l.buf) == 0 {
		return
	}
	if _, err := l.w.Write(l.buf); err != nil && !l.errReported {
		l.errReported = true
		// The log itself is what failed: say so where it would be seen.
		_, _ = io.WriteString(l.w, "ingress: access log write failed: "+err.Error()+"\n")
	}
	l.buf = l.buf[:0]
}

// flushLoop flushes at accessLogFlushInterval until ctx ends, then once more.
func (l *accessLog) flushLoop(ctx context.Context) {
	tick := time.NewTicker(accessLogFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			l.flush()
			return
		case <-tick.C:
			l.flush()
		}
	}
}

// appendLogValue appends s as slog's text handler writes a value: as it is
// when it is a single printable word, quoted otherwise.
func appendLogValue(b []byte, s string) []byte {
	if needsLogQuotes(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsLogQuotes(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
