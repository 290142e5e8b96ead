package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"strings"
)

var (
	// errMalformedChunked: a body's chunked coding breaks RFC 9112 §7.1.
	errMalformedChunked = errors.New("malformed chunked body")
	// errBodyUnfinished: a body was closed before its end was read.
	errBodyUnfinished = errors.New("body closed before its end")
)

const (
	// maxChunkLineBytes bounds a chunk-size line with its extensions, as
	// net/http does.
	maxChunkLineBytes = 4 << 10
	// maxTrailerBytes bounds the trailer section of a chunked body.
	maxTrailerBytes = 64 << 10
)

// The body readers below are kept by a connection, one of each, and reset
// for every message, so a message costs no allocation for its body. Their
// errors are sticky: once a read failed the connection is of no further
// use, and io.EOF stays the answer after the end.

// fixedBody is a body framed by Content-Length.
type fixedBody struct {
	br   *bufio.Reader
	left int64 // bytes still to read
	err  error
}

func (b *fixedBody) reset(br *bufio.Reader, n int64) { *b = fixedBody{br: br, left: n} }

// Read returns io.EOF after n bytes (with the last of them when it can)
// and io.ErrUnexpectedEOF if the peer ends early.
func (b *fixedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		b.err = io.EOF
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := readAtMost(b.br, p, &b.left)
	switch {
	case b.left == 0:
		b.err = io.EOF
	case err == io.EOF:
		b.err = io.ErrUnexpectedEOF
	case err != nil:
		b.err = err
	}
	return n, b.err
}

// readAtMost reads into p from br no more than *left bytes, and counts
// them off *left.
func readAtMost(br *bufio.Reader, p []byte, left *int64) (int, error) {
	if int64(len(p)) > *left {
		p = p[:*left]
	}
	n, err := br.Read(p)
	*left -= int64(n)
	return n, err
}

// done reports whether every byte of the body was read.
func (b *fixedBody) done() bool { return b.left == 0 }

// Close reports whether the body was read to its end; the rest, if any, is
// left to whoever owns the connection.
func (b *fixedBody) Close() error { return closeError(b.done()) }

func closeError(done bool) error {
	if done {
		return nil
	}
	return errBodyUnfinished
}

// chunkedBody is a body in the chunked coding (RFC 9112 §7.1).
type chunkedBody struct {
	br      *bufio.Reader
	trailer *http.Header
	state   chunkedState
	left    int64 // bytes of the current chunk's data still to read
	err     error
}

type chunkedState uint8

const (
	beforeChunkSize chunkedState = iota
	inChunkData
	afterChunkData // before the CRLF that ends a chunk's data
	beforeTrailer  // after the last chunk
	chunkedEnd
)

// reset starts a body read from br; its trailer fields will be added to
// *trailer, which gets a map only if there is a field.
func (b *chunkedBody) reset(br *bufio.Reader, trailer *http.Header) {
	*b = chunkedBody{br: br, trailer: trailer}
}

// Read returns the data of the chunks and io.EOF after the trailer section
// was read. When the end of the body is already buffered, the last data
// comes with io.EOF.
func (b *chunkedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.state != inChunkData {
		if b.advance(true); b.err != nil {
			return 0, b.err
		}
	}
	n, err := readAtMost(b.br, p, &b.left)
	switch {
	case b.left == 0:
		b.state = afterChunkData
		// Go on as far as the buffer allows: the caller learns of the end
		// without another read, and of a broken coding at once.
		b.advance(false)
	case err == io.EOF:
		b.err = io.ErrUnexpectedEOF
	case err != nil:
		b.err = err
	}
	return n, b.err
}

// done reports whether the body was read to its end, trailer included.
func (b *chunkedBody) done() bool { return b.state == chunkedEnd }

// Close reports whether the body was read to its end.
func (b *chunkedBody) Close() error { return closeError(b.done()) }

// advance reads up to the next chunk's data or to the end of the body. When
// wait is false it stops before a step whose bytes are not all buffered
// yet, so it never blocks. At the end, b.err becomes io.EOF.
func (b *chunkedBody) advance(wait bool) {
	for b.err == nil {
		switch b.state {
		case inChunkData:
			return
		case afterChunkData:
			if !wait && b.br.Buffered() < 2 {
				return
			}
			crlf, err := b.br.Peek(2)
			if err != nil {
				b.fail(err)
				return
			}
			if crlf[0] != '\r' || crlf[1] != '\n' {
				b.err = fmt.Errorf("%w: chunk data not followed by CRLF", errMalformedChunked)
				return
			}
			_, _ = b.br.Discard(2)
			b.state = beforeChunkSize
		case beforeChunkSize:
			if !wait && !lineBuffered(b.br) {
				return
			}
			size, err := readChunkSize(b.br)
			if err != nil {
				b.fail(err)
				return
			}
			if size == 0 {
				b.state = beforeTrailer
			} else {
				b.state, b.left = inChunkData, size
			}
		case beforeTrailer:
			if !wait && !emptyLineBuffered(b.br) {
				return
			}
			if err := b.readTrailer(); err != nil {
				b.fail(err)
				return
			}
			b.state, b.err = chunkedEnd, io.EOF
		case chunkedEnd:
			b.err = io.EOF
		}
	}
}

// fail makes err the body's error; the body ending inside the coding is
// unexpected.
func (b *chunkedBody) fail(err error) {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	b.err = err
}

// readTrailer reads the trailer section, through the empty line that ends
// the body.
func (b *chunkedBody) readTrailer() error {
	fs := fieldSectionPool.Get().(*fieldSection)
	defer fs.release()
	budget := maxTrailerBytes
	if err := fs.read(b.br, &budget); err != nil {
		return fmt.Errorf("chunked body trailer: %w", err)
	}
	if len(fs.ends) > 0 {
		if *b.trailer == nil {
			*b.trailer = make(http.Header, len(fs.ends))
		}
		fs.addTo(*b.trailer)
	}
	return nil
}

// lineBuffered reports whether a whole line waits in br.
func lineBuffered(br *bufio.Reader) bool {
	buffered, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(buffered, '\n') >= 0
}

// emptyLineBuffered reports whether br starts with an empty line.
func emptyLineBuffered(br *bufio.Reader) bool {
	buffered, _ := br.Peek(br.Buffered())
	return bytes.HasPrefix(buffered, []byte("\r\n")) || bytes.HasPrefix(buffered, []byte("\n"))
}

// Where readChunkSize is in a chunk-size line.
const (
	inSizeDigits    = iota
	afterSizeDigits // whitespace before an extension
	inExtensions
	atLineEnd // after the CR, which only LF may follow
)

// maxChunkSizeDigits keeps the size within 64 bits before it is checked
// against the int64 range; leading zeros count, as in net/http.
const maxChunkSizeDigits = 16

// readChunkSize reads a chunk-size line, "size [BWS ;extensions] CRLF",
// and returns the size. Extensions are skipped, though they must not hold
// control bytes; the line is checked as it streams by, so one longer than
// br's buffer needs no copy.
func readChunkSize(br *bufio.Reader) (int64, error) {
	var (
		size   uint64
		digits int
		where  = inSizeDigits
		length int
	)
	for {
		part, err := br.ReadSlice('\n')
		if length += len(part); length > maxChunkLineBytes {
			return 0, fmt.Errorf("%w: chunk-size line longer than %d bytes", errMalformedChunked, maxChunkLineBytes)
		}
		if err == nil {
			part = part[:len(part)-1] // the LF
		} else if err != bufio.ErrBufferFull {
			return 0, err
		}
		for _, c := range part {
			if where == atLineEnd {
				return 0, fmt.Errorf("%w: CR inside a chunk-size line", errMalformedChunked)
			}
			if c == '\r' {
				where = atLineEnd
				continue
			}
			switch where {
			case inSizeDigits:
				if d, ok := hexDigit(c); ok {
					if digits == maxChunkSizeDigits {
						return 0, fmt.Errorf("%w: chunk size has more than %d digits", errMalformedChunked, maxChunkSizeDigits)
					}
					size, digits = size<<4|uint64(d), digits+1
					continue
				}
				if digits == 0 {
					return 0, fmt.Errorf("%w: chunk-size line without a size", errMalformedChunked)
				}
				fallthrough
			case afterSizeDigits:
				switch c {
				case ' ', '\t':
					where = afterSizeDigits
				case ';':
					where = inExtensions
				default:
					return 0, fmt.Errorf("%w: invalid byte %q in chunk size", errMalformedChunked, c)
				}
			case inExtensions:
				if fieldByteClass[c]&valueByte == 0 {
					return 0, fmt.Errorf("%w: invalid byte %q in chunk extension", errMalformedChunked, c)
				}
			}
		}
		if err == nil {
			break
		}
	}
	switch {
	case where != atLineEnd:
		return 0, fmt.Errorf("%w: chunk-size line not ended by CRLF", errMalformedChunked)
	case digits == 0:
		return 0, fmt.Errorf("%w: chunk-size line without a size", errMalformedChunked)
	case size > math.MaxInt64:
		return 0, fmt.Errorf("%w: chunk size out of range", errMalformedChunked)
	}
	return int64(size), nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// untilCloseBody is a response body delimited by the connection closing
// (RFC 9112 §6.3, last rule): io.EOF from the connection is its end.
type untilCloseBody struct {
	br  *bufio.Reader
	err error
}

func (b *untilCloseBody) reset(br *bufio.Reader) { *b = untilCloseBody{br: br} }

func (b *untilCloseBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.br.Read(p)
	b.err = err
	return n, err
}

// done reports whether the connection ended the body.
func (b *untilCloseBody) done() bool { return b.err == io.EOF }

// Close reports whether the body was read to its end.
func (b *untilCloseBody) Close() error { return closeError(b.done()) }

// contentLength reads Content-Length values (RFC 9110 §8.6): one decimal
// length, possibly repeated, in several fields or as a list. It returns
// the length and its first spelling.
func contentLength(values []string) (n int64, single string, err error) {
	n = -1
	for _, v := range values {
		for {
			item, rest, more := strings.Cut(v, ",")
			item = textproto.TrimString(item)
			m, ok := parseDecimalLength(item)
			switch {
			case !ok:
				return 0, "", fmt.Errorf("%w: invalid Content-Length %q", errMalformedHeader, v)
			case n >= 0 && m != n:
				return 0, "", fmt.Errorf("%w: conflicting Content-Length values", errMalformedHeader)
			case n < 0:
				n, single = m, item
			}
			if !more {
				break
			}
			v = rest
		}
	}
	return n, single, nil
}

// parseDecimalLength parses 1*DIGIT into an int64.
func parseDecimalLength(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
