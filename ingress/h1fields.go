package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"golang.org/x/net/http/httpguts"
)

var (
	// errHeaderTooLarge: the header (or trailer) section is larger than
	// allowed.
	errHeaderTooLarge = errors.New("header section too large")
	// errMalformedHeader: a field line breaks RFC 9110/9112's syntax.
	errMalformedHeader = errors.New("malformed header field")
)

// Classes of bytes in field lines, one bit each in fieldByteClass.
const (
	nameByte  uint8 = 1 << iota // may be part of a field name (a token)
	valueByte                   // may be part of a field value
)

// fieldByteClass is derived from httpguts, byte by byte (both of its checks
// hold for a string exactly when they hold for each of its bytes), so the
// parser enforces the very rules net/http does while checking a line in
// one pass, without making a string of it.
var fieldByteClass = func() (class [256]uint8) {
	for i := range class {
		one := string([]byte{byte(i)}) // the byte itself, not its UTF-8 form
		if httpguts.ValidHeaderFieldName(one) {
			class[i] |= nameByte
		}
		if httpguts.ValidHeaderFieldValue(one) {
			class[i] |= valueByte
		}
	}
	return class
}()

// readHeaderFields reads field lines up to and including the empty line
// that ends them, adding each field to h under its canonical name
// (textproto.CanonicalMIMEHeaderKey's rules). *budget is how many bytes the
// lines may still take; it is reduced by what was read; errHeaderTooLarge
// when exceeded. Malformed input returns an error wrapping
// errMalformedHeader.
//
// The names and values of a section share one string, and the values one
// []string, so a section costs two allocations however many fields it has
// (a repeated name costs more: its values need a slice of their own).
// Nothing given to h is reused later, since it may outlive the message; on
// error h is left as it was.
func readHeaderFields(br *bufio.Reader, h http.Header, budget *int) error {
	fs := fieldSectionPool.Get().(*fieldSection)
	err := fs.read(br, budget)
	if err == nil {
		fs.addTo(h)
	}
	fs.release()
	return err
}

// fieldSection is a header section as it is read: the canonical names and
// trimmed values back to back in text, before they become strings.
type fieldSection struct {
	text []byte
	// ends has, per field in order, where its name and its value end in
	// text; a name starts where the previous value ended.
	ends []fieldEnds
	// long puts together a line longer than the reader's buffer.
	long []byte
}

type fieldEnds struct{ name, value int }

// fieldSectionPool spares each section its scratch space; sections bigger
// than ordinary ones are not kept (see release).
var fieldSectionPool = sync.Pool{New: func() any { return new(fieldSection) }}

const (
	maxPooledFieldText   = 16 << 10
	maxPooledFieldCount  = 256
	quotedLineExcerptLen = 64
)

func (fs *fieldSection) release() {
	if cap(fs.text) > maxPooledFieldText || cap(fs.long) > maxPooledFieldText || cap(fs.ends) > maxPooledFieldCount {
		return
	}
	fieldSectionPool.Put(fs)
}

// read reads the field lines of one section, through its empty line.
func (fs *fieldSection) read(br *bufio.Reader, budget *int) error {
	fs.text, fs.ends = fs.text[:0], fs.ends[:0]
	for {
		line, err := readLineWithin(br, budget, &fs.long)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if err := fs.add(line); err != nil {
			return err
		}
	}
}

// add checks one field line (without its line end) and appends its
// canonical name and trimmed value to text.
func (fs *fieldSection) add(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		// RFC 9112 §5.2: obs-fold is rejected, as net/http's server does.
		return malformedLine("line folded onto the previous one", line)
	}
	colon := bytes.IndexByte(line, ':')
	switch {
	case colon < 0:
		return malformedLine("no colon", line)
	case colon == 0:
		return malformedLine("empty field name", line)
	}
	if last := line[colon-1]; last == ' ' || last == '\t' {
		// RFC 9112 §5.1: a request smuggling vector, hence an error.
		return malformedLine("whitespace before the colon", line)
	}
	start := len(fs.text)
	fs.text = append(fs.text, line[:colon]...)
	if !canonicalizeFieldName(fs.text[start:]) {
		fs.text = fs.text[:start]
		return malformedLine("invalid field name", line)
	}
	nameEnd := len(fs.text)
	value := trimFieldValue(line[colon+1:])
	for _, b := range value {
		if fieldByteClass[b]&valueByte == 0 {
			fs.text = fs.text[:start]
			return malformedLine("invalid byte in field value", line)
		}
	}
	fs.text = append(fs.text, value...)
	fs.ends = append(fs.ends, fieldEnds{name: nameEnd, value: len(fs.text)})
	return nil
}

// addTo adds the fields read to h.
func (fs *fieldSection) addTo(h http.Header) {
	if len(fs.ends) == 0 {
		return
	}
	text := string(fs.text)
	values := make([]string, len(fs.ends))
	start := 0
	for i, e := range fs.ends {
		name := text[start:e.name]
		values[i] = text[e.name:e.value]
		start = e.value
		if prior, ok := h[name]; ok {
			h[name] = append(prior, values[i])
		} else {
			// Capacity one: appending a repeated name must not overwrite
			// the next field's value.
			h[name] = values[i : i+1 : i+1]
		}
	}
}

// readLineWithin returns the next line without its line end (CRLF or a
// bare LF), charging its length to *budget. A line longer than br's buffer
// is put together in *long. The line is valid until the next read from br
// or use of *long.
func readLineWithin(br *bufio.Reader, budget *int, long *[]byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if *budget -= len(line); *budget < 0 {
		return nil, errHeaderTooLarge
	}
	if err == bufio.ErrBufferFull {
		whole := append((*long)[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = br.ReadSlice('\n')
			if *budget -= len(line); *budget < 0 {
				*long = whole
				return nil, errHeaderTooLarge
			}
			whole = append(whole, line...)
		}
		*long = whole
		line = whole
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// canonicalizeFieldName rewrites a field name in place in canonical form:
// upper case for the first letter and each one after a hyphen, lower case
// for the others. It reports false when the name is not a token.
func canonicalizeFieldName(name []byte) bool {
	upper := true
	for i, c := range name {
		if fieldByteClass[c]&nameByte == 0 {
			return false
		}
		switch {
		case upper && 'a' <= c && c <= 'z':
			name[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			name[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	return true
}

// trimFieldValue drops the whitespace around a field value (RFC 9110 §5.5).
func trimFieldValue(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// malformedLine describes a bad field line, quoting its start.
func malformedLine(what string, line []byte) error {
	if len(line) > quotedLineExcerptLen {
		line = line[:quotedLineExcerptLen]
	}
	return fmt.Errorf("%w: %s: %q", errMalformedHeader, what, line)
}
