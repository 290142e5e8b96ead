package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// logRecord is one line of a CRI log file:
// "<RFC3339Nano time> <stdout|stderr> <F|P> <message>".
type logRecord struct {
	timestamp time.Time
	rawTime   []byte // as written, for timestamps=true
	stream    string
	partial   bool // P: the message continues in the next record of the stream
	message   []byte
}

// parseCRILine parses one CRI log line without its trailing newline.
func parseCRILine(line []byte) (logRecord, error) {
	var rec logRecord
	rawTime, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return rec, fmt.Errorf("CRI log line has no timestamp: %q", line)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(rawTime))
	if err != nil {
		return rec, fmt.Errorf("CRI log line has a bad timestamp: %w", err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return rec, fmt.Errorf("CRI log line has no stream: %q", line)
	}
	tag, msg, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// An empty message may come without the separating space.
		tag, msg = rest, nil
	}
	switch string(tag) {
	case "F":
	case "P":
		rec.partial = true
	default:
		// Tags may carry more flags after a colon ("F:x"); the first
		// one says whether the line is complete.
		if len(tag) > 1 && tag[1] == ':' && (tag[0] == 'F' || tag[0] == 'P') {
			rec.partial = tag[0] == 'P'
			break
		}
		return rec, fmt.Errorf("CRI log line has a bad tag %q", tag)
	}
	rec.timestamp, rec.rawTime, rec.stream, rec.message = ts, rawTime, string(stream), msg
	return rec, nil
}

// errLimitReached ends a read once limitBytes have been written.
var errLimitReached = errors.New("log byte limit reached")

// logOptions are the containerLogs query options.
type logOptions struct {
	since      time.Time // zero: from the start
	tailLines  int64     // negative: every line
	limitBytes int64     // zero: unlimited
	timestamps bool
	follow     bool
}

// lineWriter turns records into output lines: partial records of one
// stream are joined, the since filter and the byte limit are applied.
type lineWriter struct {
	out     io.Writer
	opts    logOptions
	written int64
	pending map[string]*bytes.Buffer // partial message per stream
	started map[string]logRecord     // first record of each pending line
}

func newLineWriter(out io.Writer, opts logOptions) *lineWriter {
	return &lineWriter{out: out, opts: opts, pending: map[string]*bytes.Buffer{}, started: map[string]logRecord{}}
}

// add takes one record; it returns errLimitReached once the limit is hit.
func (w *lineWriter) add(rec logRecord) error {
	buf := w.pending[rec.stream]
	if buf == nil {
		buf = &bytes.Buffer{}
		w.pending[rec.stream] = buf
	}
	if buf.Len() == 0 {
		w.started[rec.stream] = rec
	}
	buf.Write(rec.message)
	if rec.partial {
		return nil
	}
	first := w.started[rec.stream]
	defer buf.Reset()
	if !w.opts.since.IsZero() && first.timestamp.Before(w.opts.since) {
		return nil
	}
	var line []byte
	if w.opts.timestamps {
		line = append(append(line, first.rawTime...), ' ')
	}
	line = append(append(line, buf.Bytes()...), '\n')
	return w.write(line)
}

func (w *lineWriter) write(p []byte) error {
	if w.opts.limitBytes > 0 {
		left := w.opts.limitBytes - w.written
		if int64(len(p)) >= left {
			_, err := w.out.Write(p[:left])
			w.written += left
			if err != nil {
				return err
			}
			return errLimitReached
		}
	}
	n, err := w.out.Write(p)
	w.written += int64(n)
	return err
}

// tailOffset returns where the last n complete lines of a CRI log start
// (partial records count with the line they end in); n < 0 means the start.
func tailOffset(r io.Reader, n int64) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	if n == 0 {
		// Nothing of the existing content: skip to its end.
		size, err := io.Copy(io.Discard, r)
		return size, err
	}
	starts := make([]int64, 0, n) // ring of the latest line starts
	next := 0
	var offset, lineStart int64
	inLine := false
	br := newLineReader(r)
	for {
		line, err := br.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, err
		}
		if !inLine {
			lineStart = offset
			inLine = true
		}
		offset += int64(len(line))
		rec, perr := parseCRILine(bytes.TrimSuffix(line, []byte{'\n'}))
		if perr == nil && rec.partial {
			continue
		}
		inLine = false
		if int64(len(starts)) < n {
			starts = append(starts, lineStart)
		} else {
			starts[next] = lineStart
			next = (next + 1) % len(starts)
		}
	}
	if len(starts) == 0 {
		return offset, nil
	}
	if int64(len(starts)) < n {
		return starts[0], nil
	}
	return starts[next], nil
}

// lineReader reads whole lines from a file that may still be growing: an
// unfinished last line is kept until its newline arrives.
type lineReader struct {
	br      *bufio.Reader
	partial []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line with its newline, or io.EOF when no whole
// line is available yet.
func (l *lineReader) next() ([]byte, error) {
	data, err := l.br.ReadBytes('\n')
	if err != nil {
		l.partial = append(l.partial, data...)
		return nil, err
	}
	if len(l.partial) > 0 {
		data = append(l.partial, data...)
		l.partial = nil
	}
	return data, nil
}
