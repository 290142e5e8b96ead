package server

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCRILine(t *testing.T) {
	tests := []struct {
		line    string
		stream  string
		partial bool
		msg     string
		wantErr bool
	}{
		{line: "2024-05-01T10:00:00.123456789Z stdout F hello world", stream: "stdout", msg: "hello world"},
		{line: "2024-05-01T10:00:00Z stderr P part", stream: "stderr", partial: true, msg: "part"},
		{line: "2024-05-01T10:00:00Z stdout F ", stream: "stdout", msg: ""},
		{line: "2024-05-01T10:00:00Z stdout F", stream: "stdout", msg: ""},
		{line: "2024-05-01T10:00:00Z stdout F:x tagged", stream: "stdout", msg: "tagged"},
		{line: "2024-05-01T10:00:00+02:00 stdout F  two  spaces ", stream: "stdout", msg: " two  spaces "},
		{line: "not a timestamp stdout F x", wantErr: true},
		{line: "2024-05-01T10:00:00Z stdin F x", wantErr: true},
		{line: "2024-05-01T10:00:00Z stdout X x", wantErr: true},
		{line: "2024-05-01T10:00:00Z", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			rec, err := parseCRILine([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if rec.stream != tt.stream || rec.partial != tt.partial || string(rec.message) != tt.msg {
				t.Errorf("got stream %q partial %v msg %q, want %q %v %q", rec.stream, rec.partial, rec.message, tt.stream, tt.partial, tt.msg)
			}
		})
	}
}

// criLog builds a CRI log file body from "stream tag message" lines, one
// second apart starting at base.
func criLog(base time.Time, lines ...string) string {
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(base.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano))
		b.WriteString(" ")
		b.WriteString(l)
		b.WriteString("\n")
	}
	return b.String()
}

var logBase = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func TestLineWriter(t *testing.T) {
	content := criLog(logBase,
		"stdout F one",
		"stdout P tw",
		"stderr F err",
		"stdout F o",
		"stdout F three",
	)
	tests := []struct {
		name string
		opts logOptions
		want string
		err  error
	}{
		{name: "all, partial lines joined", opts: logOptions{tailLines: -1}, want: "one\nerr\ntwo\nthree\n"},
		{name: "timestamps of the first fragment", opts: logOptions{tailLines: -1, timestamps: true},
			want: "2024-05-01T10:00:00Z one\n2024-05-01T10:00:02Z err\n2024-05-01T10:00:01Z two\n2024-05-01T10:00:04Z three\n"},
		{name: "since drops older lines", opts: logOptions{tailLines: -1, since: logBase.Add(2 * time.Second)}, want: "err\nthree\n"},
		{name: "limit bytes cuts mid-line", opts: logOptions{tailLines: -1, limitBytes: 6}, want: "one\ner", err: errLimitReached},
		{name: "tail 2", opts: logOptions{tailLines: 2}, want: "o\nthree\n"},
		{name: "tail more than exist", opts: logOptions{tailLines: 100}, want: "one\nerr\ntwo\nthree\n"},
		{name: "tail 0", opts: logOptions{tailLines: 0}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strings.NewReader(content)
			start, err := tailOffset(r, tt.opts.tailLines)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			lw := newLineWriter(&out, tt.opts)
			lr := newLineReader(strings.NewReader(content[start:]))
			var got error
			for {
				line, err := lr.next()
				if err != nil {
					break
				}
				rec, err := parseCRILine(bytes.TrimSuffix(line, []byte("\n")))
				if err != nil {
					t.Fatal(err)
				}
				if got = lw.add(rec); got != nil {
					break
				}
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("error = %v, want %v", got, tt.err)
			}
			if out.String() != tt.want {
				t.Errorf("output %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestTailOffsetCountsJoinedLines(t *testing.T) {
	content := criLog(logBase, "stdout F a", "stdout P b1", "stdout P b2", "stdout F b3", "stdout F c")
	start, err := tailOffset(strings.NewReader(content), 2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(content[start:], logBase.Add(time.Second).Format(time.RFC3339Nano)+" stdout P b1") {
		t.Errorf("tail 2 starts at %q, want the first fragment of b", content[start:])
	}
}

func TestLineReaderKeepsUnfinishedLine(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("first\nsec")
	lr := newLineReader(&buf)
	if line, err := lr.next(); err != nil || string(line) != "first\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	if _, err := lr.next(); err == nil {
		t.Fatal("an unfinished line was returned")
	}
	buf.WriteString("ond\n")
	if line, err := lr.next(); err != nil || string(line) != "second\n" {
		t.Fatalf("got %q, %v; want the line joined", line, err)
	}
}
