package ingress

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func TestReadHeaderFields(t *testing.T) {
	long := strings.Repeat("v", 300)
	for _, c := range []struct {
		name string
		in   string
		want http.Header
		err  error  // errors.Is target; nil for success
		msg  string // in the error's text
	}{
		{name: "common fields", in: "Host: example.com\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
			want: http.Header{"Host": {"example.com"}, "Content-Type": {"text/plain"}, "Content-Length": {"5"}}},
		{name: "empty section", in: "\r\n", want: http.Header{}},
		{name: "names made canonical", in: "content-type: a\r\nX-FORWARDED-FOR: b\r\nx_under.score: c\r\nwww-authenticate: d\r\n\r\n",
			want: http.Header{"Content-Type": {"a"}, "X-Forwarded-For": {"b"}, "X_under.score": {"c"}, "Www-Authenticate": {"d"}}},
		{name: "repeated names keep their order", in: "Set-Cookie: a=1\r\nVary: x\r\nset-cookie: b=2\r\nSet-Cookie: c=3\r\n\r\n",
			want: http.Header{"Set-Cookie": {"a=1", "b=2", "c=3"}, "Vary": {"x"}}},
		{name: "whitespace around values trimmed", in: "A:  \t x y \t \r\nB:\r\nC: \r\n\r\n",
			want: http.Header{"A": {"x y"}, "B": {""}, "C": {""}}},
		{name: "bare LF line ends", in: "A: 1\nB: 2\n\n", want: http.Header{"A": {"1"}, "B": {"2"}}},
		{name: "obs-text and colons in values", in: "A: caf\xe9: x\r\n\r\n", want: http.Header{"A": {"caf\xe9: x"}}},
		{name: "line longer than the buffer", in: "X-Long: " + long + "\r\nB: 2\r\n\r\n",
			want: http.Header{"X-Long": {long}, "B": {"2"}}},
		{name: "long name longer than the buffer", in: strings.Repeat("n", 40) + ": 1\r\n\r\n",
			want: http.Header{"N" + strings.Repeat("n", 39): {"1"}}},

		{name: "obs-fold", in: "A: 1\r\n 2\r\n\r\n", err: errMalformedHeader, msg: "folded"},
		{name: "obs-fold with a tab", in: "A: 1\r\n\tB: 2\r\n\r\n", err: errMalformedHeader, msg: "folded"},
		{name: "first line folded", in: " A: 1\r\n\r\n", err: errMalformedHeader, msg: "folded"},
		{name: "space before colon", in: "A : 1\r\n\r\n", err: errMalformedHeader, msg: "before the colon"},
		{name: "tab before colon", in: "A\t: 1\r\n\r\n", err: errMalformedHeader, msg: "before the colon"},
		{name: "empty name", in: ": 1\r\n\r\n", err: errMalformedHeader, msg: "empty field name"},
		{name: "no colon", in: "A 1\r\n\r\n", err: errMalformedHeader, msg: "no colon"},
		{name: "space inside the name", in: "A B: 1\r\n\r\n", err: errMalformedHeader},
		{name: "separator in the name", in: "A@B: 1\r\n\r\n", err: errMalformedHeader},
		{name: "non-ASCII name", in: "Caf\xe9: 1\r\n\r\n", err: errMalformedHeader},
		{name: "NUL in value", in: "A: x\x00y\r\n\r\n", err: errMalformedHeader},
		{name: "DEL in value", in: "A: x\x7fy\r\n\r\n", err: errMalformedHeader},
		{name: "bare CR in value", in: "A: x\ry\r\n\r\n", err: errMalformedHeader},
		{name: "CR CR LF", in: "A: x\r\r\n\r\n", err: errMalformedHeader},
		{name: "ends inside a line", in: "A: 1\r\nB: 2", err: io.ErrUnexpectedEOF},
		{name: "ends before the empty line", in: "A: 1\r\n", err: io.ErrUnexpectedEOF},
		{name: "ends at once", in: "", err: io.ErrUnexpectedEOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			// 32 bytes: the smallest buffer a connection could have makes
			// the long lines cross buffer boundaries.
			for _, size := range []int{32, 4096} {
				br := bufio.NewReaderSize(strings.NewReader(c.in+"NEXT"), size)
				h := http.Header{}
				budget := 1 << 20
				err := readHeaderFields(br, h, &budget)
				if c.err != nil {
					if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
						t.Fatalf("buffer %d: err = %v, want %v (%q)", size, err, c.err, c.msg)
					}
					continue
				}
				if err != nil {
					t.Fatalf("buffer %d: %v", size, err)
				}
				if !reflect.DeepEqual(h, c.want) {
					t.Errorf("buffer %d: header = %q, want %q", size, h, c.want)
				}
				if used := 1<<20 - budget; used != len(c.in) {
					t.Errorf("buffer %d: budget reduced by %d, want %d", size, used, len(c.in))
				}
				if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
					t.Errorf("buffer %d: left %q in the reader, want what follows the section", size, rest)
				}
			}
		})
	}
}

func TestReadHeaderFieldsBudget(t *testing.T) {
	in := "Host: example.com\r\nX-Long: " + strings.Repeat("v", 500) + "\r\n\r\n"
	for _, c := range []struct {
		name   string
		budget int
		size   int
		ok     bool
	}{
		{"exactly enough", len(in), 4096, true},
		{"exactly enough, long line", len(in), 64, true},
		{"one byte short", len(in) - 1, 4096, false},
		{"one byte short, long line", len(in) - 1, 64, false},
		{"exceeded inside the long line", 100, 64, false},
		{"exceeded by the first line", 5, 4096, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(in), c.size)
			budget := c.budget
			err := readHeaderFields(br, http.Header{}, &budget)
			switch {
			case c.ok && err != nil:
				t.Fatalf("err = %v", err)
			case c.ok && budget != 0:
				t.Errorf("budget left %d, want 0", budget)
			case !c.ok && !errors.Is(err, errHeaderTooLarge):
				t.Fatalf("err = %v, want errHeaderTooLarge", err)
			}
		})
	}
}

// The byte classes must be exactly httpguts' rules, and names canonical
// as net/textproto makes them.
func TestFieldByteClassesMatchHTTPGuts(t *testing.T) {
	for i := range 256 {
		s := string([]byte{byte(i)})
		if got, want := fieldByteClass[i]&nameByte != 0, httpguts.ValidHeaderFieldName(s); got != want {
			t.Errorf("byte %#x: name byte %v, httpguts says %v", i, got, want)
		}
		if got, want := fieldByteClass[i]&valueByte != 0, httpguts.ValidHeaderFieldValue(s); got != want {
			t.Errorf("byte %#x: value byte %v, httpguts says %v", i, got, want)
		}
	}
	for _, name := range []string{"content-type", "CONTENT-TYPE", "Content-Type", "x-", "-x", "a--b", "x_y-z", "ETag", "www-authenticate",
		"x.y-z1", "te", "dnt", "1a-2b", "a-B-c"} {
		b := []byte(name)
		if !canonicalizeFieldName(b) {
			t.Fatalf("%q refused", name)
		}
		if want := textproto.CanonicalMIMEHeaderKey(name); string(b) != want {
			t.Errorf("%q became %q, want %q", name, b, want)
		}
	}
}

// A section's values must stay as they were when later sections are read:
// the client's response may hold them after the upstream response is gone.
func TestReadHeaderFieldsValuesOutliveTheSection(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("A: one\r\nB: two\r\n\r\nA: three\r\nB: four\r\n\r\n"))
	first, second := http.Header{}, http.Header{}
	budget := 1 << 20
	if err := readHeaderFields(br, first, &budget); err != nil {
		t.Fatal(err)
	}
	if err := readHeaderFields(br, second, &budget); err != nil {
		t.Fatal(err)
	}
	first["A"] = append(first["A"], "appended")
	if want := (http.Header{"A": {"one", "appended"}, "B": {"two"}}); !reflect.DeepEqual(first, want) {
		t.Errorf("first = %q, want %q", first, want)
	}
	if want := (http.Header{"A": {"three"}, "B": {"four"}}); !reflect.DeepEqual(second, want) {
		t.Errorf("second = %q, want %q", second, want)
	}
}

func TestReadHeaderFieldsAllocations(t *testing.T) {
	skipAllocationsUnderRace(t)
	const head = "Host: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n" +
		"Connection: keep-alive\r\nX-Forwarded-For: 10.0.0.1\r\ncookie: session=abc\r\n\r\n"
	src := strings.NewReader(head)
	br := bufio.NewReader(src)
	h := make(http.Header, 16)
	allocs := testing.AllocsPerRun(1000, func() {
		src.Reset(head)
		br.Reset(src)
		clear(h)
		budget := 1 << 20
		if err := readHeaderFields(br, h, &budget); err != nil {
			t.Fatal(err)
		}
	})
	// One string for the names and values, one []string for the values.
	if allocs > 2 {
		t.Errorf("%v allocations per head, want at most 2", allocs)
	}
}

// skipAllocationsUnderRace skips an allocation count the race detector
// would spoil: it makes sync.Pool drop objects at random.
func skipAllocationsUnderRace(t *testing.T) {
	t.Helper()
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "-race" && s.Value == "true" {
				t.Skip("allocations are not counted under the race detector")
			}
		}
	}
}
