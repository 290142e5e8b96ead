package ingress

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// readers gives the ways a body's bytes may arrive: all at once through a
// buffer of a connection's size, and a byte at a time through the
// smallest buffer.
var readers = []struct {
	name string
	new  func(s string) *bufio.Reader
}{
	{"buffered", func(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 4096) }},
	{"byte by byte", func(s string) *bufio.Reader {
		return bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(s)), 16)
	}},
}

func TestFixedBody(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		n    int64
		want string
		err  error // from reading to the end; nil when the body is whole
	}{
		{name: "whole", in: "hello", n: 5, want: "hello"},
		{name: "empty", in: "", n: 0, want: ""},
		{name: "next message left alone", in: "helloHTTP/1.1 200 OK\r\n", n: 5, want: "hello"},
		{name: "peer ends early", in: "hel", n: 5, want: "hel", err: io.ErrUnexpectedEOF},
		{name: "peer ends at once", in: "", n: 5, want: "", err: io.ErrUnexpectedEOF},
	} {
		for _, r := range readers {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				br := r.new(c.in)
				var b fixedBody
				b.reset(br, c.n)
				got, err := io.ReadAll(&b)
				if string(got) != c.want || !errors.Is(err, c.err) {
					t.Fatalf("read %q, %v; want %q, %v", got, err, c.want, c.err)
				}
				if b.done() != (c.err == nil) {
					t.Errorf("done() = %v", b.done())
				}
				if (b.Close() == nil) != (c.err == nil) {
					t.Errorf("Close() = %v", b.Close())
				}
				if _, again := b.Read(make([]byte, 8)); again == nil || (c.err == nil && again != io.EOF) {
					t.Errorf("read after the end: %v", again)
				}
				if rest, _ := io.ReadAll(br); c.err == nil && string(rest) != c.in[c.n:] {
					t.Errorf("left %q in the reader, want %q", rest, c.in[c.n:])
				}
			})
		}
	}
}

func TestFixedBodyReturnsEOFWithTheLastBytes(t *testing.T) {
	var b fixedBody
	b.reset(bufio.NewReader(strings.NewReader("hello, next")), 5)
	if n, err := b.Read(make([]byte, 64)); n != 5 || err != io.EOF {
		t.Errorf("Read = %d, %v; want 5, EOF", n, err)
	}
}

func TestFixedBodyPassesTests(t *testing.T) {
	var b fixedBody
	b.reset(bufio.NewReader(strings.NewReader("0123456789abcdefghij")), 20)
	if err := iotest.TestReader(&b, []byte("0123456789abcdefghij")); err != nil {
		t.Error(err)
	}
}

func TestChunkedBody(t *testing.T) {
	const next = "HTTP/1.1 200 OK\r\n"
	long := strings.Repeat("e", maxChunkLineBytes)
	for _, c := range []struct {
		name    string
		in      string
		want    string
		trailer http.Header
		err     error // from reading to the end; nil when the body is whole
	}{
		{name: "one chunk", in: "5\r\nhello\r\n0\r\n\r\n", want: "hello"},
		{name: "empty body", in: "0\r\n\r\n", want: ""},
		{name: "several chunks", in: "5\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\n\r\n", want: "hello, world"},
		{name: "hex sizes", in: "a\r\n0123456789\r\n1A\r\n" + strings.Repeat("x", 26) + "\r\n0\r\n\r\n", want: "0123456789" + strings.Repeat("x", 26)},
		{name: "leading zeros", in: "0005\r\nhello\r\n000\r\n\r\n", want: "hello"},
		{name: "extensions", in: "5;name=value;flag\r\nhello\r\n0;last=\"yes; really\"\r\n\r\n", want: "hello"},
		{name: "whitespace before extensions", in: "5 \t;ext\r\nhello\r\n0 \r\n\r\n", want: "hello"},
		{name: "trailer", in: "5\r\nhello\r\n0\r\nchecksum: abc\r\nX-Tail: 1\r\nX-Tail: 2\r\n\r\n", want: "hello",
			trailer: http.Header{"Checksum": {"abc"}, "X-Tail": {"1", "2"}}},
		{name: "extension as long as allowed", in: "5;" + long[:maxChunkLineBytes-5] + "\r\nhello\r\n0\r\n\r\n", want: "hello"},

		{name: "bad hex digit", in: "5g\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "0x prefix", in: "0x5\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "negative size", in: "-5\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "no size", in: "\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "only an extension", in: ";x\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "size beyond int64", in: "8000000000000000\r\nhello", err: errMalformedChunked},
		{name: "more than 16 digits", in: "00000000000000005\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "space inside the size", in: "1 0\r\n" + strings.Repeat("x", 16) + "\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "bare LF after the size", in: "5\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "bare CR in an extension", in: "5;a\rb\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "control byte in an extension", in: "5;a\x00b\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "DEL in an extension", in: "5;a\x7fb\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "size line too long", in: "5;" + long + "\r\nhello\r\n0\r\n\r\n", err: errMalformedChunked},
		{name: "data longer than its size", in: "5\r\nhello!\r\n0\r\n\r\n", want: "hello", err: errMalformedChunked},
		{name: "no CRLF after the data", in: "5\r\nhello0\r\n\r\n", want: "hello", err: errMalformedChunked},
		{name: "bare LF after the data", in: "5\r\nhello\n0\r\n\r\n", want: "hello", err: errMalformedChunked},
		{name: "CR without LF after the data", in: "5\r\nhello\rX0\r\n\r\n", want: "hello", err: errMalformedChunked},
		{name: "bad trailer field", in: "5\r\nhello\r\n0\r\nBad Name: 1\r\n\r\n", want: "hello", err: errMalformedHeader},
		{name: "folded trailer field", in: "5\r\nhello\r\n0\r\nA: 1\r\n 2\r\n\r\n", want: "hello", err: errMalformedHeader},
		{name: "trailer too large", in: "5\r\nhello\r\n0\r\nA: " + strings.Repeat("a", maxTrailerBytes) + "\r\n\r\n", want: "hello", err: errHeaderTooLarge},
		{name: "ends in a size line", in: "5", err: io.ErrUnexpectedEOF},
		{name: "ends at once", in: "", err: io.ErrUnexpectedEOF},
		{name: "ends in the data", in: "5\r\nhel", want: "hel", err: io.ErrUnexpectedEOF},
		{name: "ends after the data", in: "5\r\nhello", want: "hello", err: io.ErrUnexpectedEOF},
		{name: "ends in the CRLF", in: "5\r\nhello\r", want: "hello", err: io.ErrUnexpectedEOF},
		{name: "ends before the last chunk", in: "5\r\nhello\r\n", want: "hello", err: io.ErrUnexpectedEOF},
		{name: "ends before the trailer", in: "5\r\nhello\r\n0\r\n", want: "hello", err: io.ErrUnexpectedEOF},
		{name: "ends in the trailer", in: "5\r\nhello\r\n0\r\nA: 1\r\n", want: "hello", err: io.ErrUnexpectedEOF},
	} {
		for _, r := range readers {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				in := c.in
				if c.err == nil {
					in += next
				}
				br := r.new(in)
				var b chunkedBody
				var trailer http.Header
				b.reset(br, &trailer)
				got, err := io.ReadAll(&b)
				if string(got) != c.want || !errors.Is(err, c.err) {
					t.Fatalf("read %q, %v; want %q, %v", got, err, c.want, c.err)
				}
				if _, again := b.Read(make([]byte, 8)); again == nil || (c.err == nil && again != io.EOF) || (c.err != nil && !errors.Is(again, c.err)) {
					t.Errorf("read after the end: %v, want the same end again", again)
				}
				if c.err != nil {
					if b.done() || b.Close() == nil {
						t.Errorf("done() = %v, Close() = %v after a failure", b.done(), b.Close())
					}
					return
				}
				if !b.done() || b.Close() != nil {
					t.Errorf("done() = %v, Close() = %v at the end", b.done(), b.Close())
				}
				if !reflect.DeepEqual(trailer, c.trailer) {
					t.Errorf("trailer = %#v, want %#v", trailer, c.trailer)
				}
				if rest, _ := io.ReadAll(br); string(rest) != next {
					t.Errorf("left %q in the reader, want the next message", rest)
				}
			})
		}
	}
}

// A reused chunkedBody must not carry anything over: state, error, trailer.
func TestChunkedBodyReset(t *testing.T) {
	var b chunkedBody
	var first, second http.Header
	b.reset(bufio.NewReader(strings.NewReader("zz\r\n")), &first)
	if _, err := io.ReadAll(&b); !errors.Is(err, errMalformedChunked) {
		t.Fatalf("err = %v", err)
	}
	b.reset(bufio.NewReader(strings.NewReader("3\r\nabc\r\n0\r\n\r\n")), &second)
	if got, err := io.ReadAll(&b); string(got) != "abc" || err != nil {
		t.Fatalf("after reset: %q, %v", got, err)
	}
	if first != nil || second != nil {
		t.Errorf("trailers made without trailer fields: %v, %v", first, second)
	}
}

func TestChunkedBodyReturnsEOFWithTheLastBytes(t *testing.T) {
	var b chunkedBody
	var trailer http.Header
	b.reset(bufio.NewReader(strings.NewReader("5\r\nhello\r\n0\r\n\r\nnext")), &trailer)
	if n, err := b.Read(make([]byte, 64)); n != 5 || err != io.EOF {
		t.Errorf("Read = %d, %v; want 5, EOF", n, err)
	}
}

func TestChunkedBodyPassesTests(t *testing.T) {
	var b chunkedBody
	var trailer http.Header
	b.reset(bufio.NewReader(strings.NewReader("3\r\n012\r\n7\r\n3456789\r\na\r\nabcdefghij\r\n0\r\n\r\n")), &trailer)
	if err := iotest.TestReader(&b, []byte("0123456789abcdefghij")); err != nil {
		t.Error(err)
	}
}

func TestUntilCloseBody(t *testing.T) {
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) {
			var b untilCloseBody
			b.reset(r.new("everything until the end"))
			got, err := io.ReadAll(&b)
			if string(got) != "everything until the end" || err != nil {
				t.Fatalf("read %q, %v", got, err)
			}
			if !b.done() || b.Close() != nil {
				t.Errorf("done() = %v, Close() = %v", b.done(), b.Close())
			}
		})
	}
	var b untilCloseBody
	b.reset(bufio.NewReader(iotest.ErrReader(errors.New("reset by peer"))))
	if _, err := io.ReadAll(&b); err == nil || b.done() || b.Close() == nil {
		t.Errorf("after a failure: err %v, done() %v, Close() %v", err, b.done(), b.Close())
	}
}
