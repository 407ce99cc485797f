package caddysse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the decoder of JSON publish bodies and NDJSON lines: one
// pass over the bytes, straight into jsonEvent values, with no reflection.
// It keeps the semantics the publish API had with encoding/json:
//
//   - field names match exactly or, failing that, case-insensitively (as
//     bytes.EqualFold does), so "Topic" is topic; any other field is refused;
//   - a field given twice (in any spelling) is refused, not overwritten;
//   - a null field is as if it were absent, except data and message, whose
//     null is the JSON value null, sent as the text "null";
//   - strings have their escapes decoded; a lone surrogate escape becomes
//     U+FFFD, as encoding/json makes it; invalid UTF-8 is refused;
//   - data or message as any other JSON value is its compact text (what
//     json.Compact gives: the whitespace outside strings removed);
//   - values nest at most maxJSONDepth deep, encoding/json's limit;
//   - Unicode spaces around the value are allowed (the body used to be
//     trimmed with bytes.TrimSpace); anything else after it is refused.

// maxJSONDepth is how deep arrays and objects nest, encoding/json's limit.
const maxJSONDepth = 10000

// errJSONArray is decodeJSONObject's answer to an array.
var errJSONArray = errors.New("an array, not an object")

// decodeJSONEvents decodes a JSON publish body: one object, or an array of
// them (batch). A null, as the body or an entry of the array, is an event
// with no fields set, as encoding/json decoded it.
func decodeJSONEvents(body []byte) (objs []jsonEvent, batch bool, err error) {
	d := jsonDecoder{in: body}
	d.skipSpace()
	if d.off < len(d.in) && d.in[d.off] == '[' {
		objs, err = d.array()
		batch = true
	} else {
		objs = make([]jsonEvent, 1)
		err = d.objectOrNull(&objs[0])
	}
	if err == nil {
		err = d.end()
	}
	if err != nil {
		return nil, false, err
	}
	return objs, batch, nil
}

// decodeJSONObject decodes exactly one JSON publish object (or null) into
// o. An array is refused with errJSONArray.
func decodeJSONObject(body []byte, o *jsonEvent) error {
	var d jsonDecoder
	return d.decodeObject(body, o)
}

// decodeObject is decodeJSONObject with d's scratch buffer, which a
// streaming publish keeps from line to line.
func (d *jsonDecoder) decodeObject(body []byte, o *jsonEvent) error {
	d.in, d.off, d.depth = body, 0, 0
	d.skipSpace()
	if d.off < len(d.in) && d.in[d.off] == '[' {
		return errJSONArray
	}
	if err := d.objectOrNull(o); err != nil {
		return err
	}
	return d.end()
}

// jsonDecoder reads one JSON text from in, starting at off.
type jsonDecoder struct {
	in    []byte
	off   int
	depth int    // arrays and objects open at off
	buf   []byte // scratch for unescaped strings and compacted values
}

// scratch returns d.buf emptied, made at first use large enough for most
// strings and values of in, as none is longer than in.
func (d *jsonDecoder) scratch() []byte {
	if d.buf == nil {
		d.buf = make([]byte, 0, min(len(d.in), 64<<10))
	}
	return d.buf[:0]
}

// errorf says what is wrong at offset off of the body.
func (d *jsonDecoder) errorf(off int, format string, args ...any) error {
	return fmt.Errorf("malformed JSON at offset %d: %s", off, fmt.Sprintf(format, args...))
}

// unexpected describes the byte at off, or the end of the body, as an error.
func (d *jsonDecoder) unexpected(want string) error {
	if d.off >= len(d.in) {
		return d.errorf(d.off, "unexpected end, want %s", want)
	}
	c := d.in[d.off]
	if c < utf8.RuneSelf && c >= 0x20 {
		return d.errorf(d.off, "invalid character %q, want %s", c, want)
	}
	return d.errorf(d.off, "invalid byte %#x, want %s", c, want)
}

// skipSpace skips any Unicode spaces, which are allowed around the value.
func (d *jsonDecoder) skipSpace() {
	for d.off < len(d.in) {
		c := d.in[d.off]
		if c < utf8.RuneSelf {
			if !asciiSpace[c] {
				return
			}
			d.off++
			continue
		}
		r, n := utf8.DecodeRune(d.in[d.off:])
		if !unicode.IsSpace(r) {
			return
		}
		d.off += n
	}
}

// asciiSpace holds the ASCII bytes unicode.IsSpace accepts, JSON's four
// and \v and \f.
var asciiSpace = [utf8.RuneSelf]bool{' ': true, '\t': true, '\n': true, '\r': true, '\v': true, '\f': true}

// end checks that nothing but spaces follows the value.
func (d *jsonDecoder) end() error {
	d.skipSpace()
	if d.off < len(d.in) {
		return d.errorf(d.off, "data after the first value")
	}
	return nil
}

// ws skips JSON whitespace, the only kind allowed between tokens.
func (d *jsonDecoder) ws() {
	for d.off < len(d.in) {
		switch d.in[d.off] {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return
		}
	}
}

// open enters an array or object at off.
func (d *jsonDecoder) open() error {
	if d.depth == maxJSONDepth {
		return d.errorf(d.off, "nested over %d deep", maxJSONDepth)
	}
	d.depth++
	d.off++
	return nil
}

// next reads what follows a member or an element: a comma (more is true)
// or the closer, which it consumes.
func (d *jsonDecoder) next(closer byte) (more bool, err error) {
	d.ws()
	if d.off < len(d.in) {
		switch d.in[d.off] {
		case ',':
			d.off++
			d.ws()
			return true, nil
		case closer:
			d.off++
			d.depth--
			return false, nil
		}
	}
	return false, d.unexpected(fmt.Sprintf("',' or '%c'", closer))
}

// array decodes an array of publish objects.
func (d *jsonDecoder) array() ([]jsonEvent, error) {
	if err := d.open(); err != nil {
		return nil, err
	}
	var objs []jsonEvent
	d.ws()
	if d.off < len(d.in) && d.in[d.off] == ']' {
		d.off++
		d.depth--
		return []jsonEvent{}, nil
	}
	for {
		objs = append(objs, jsonEvent{})
		if err := d.objectOrNull(&objs[len(objs)-1]); err != nil {
			return nil, err
		}
		more, err := d.next(']')
		if err != nil {
			return nil, err
		}
		if !more {
			return objs, nil
		}
	}
}

// jsonField is a field of jsonEvent, numbered for the set of seen fields.
type jsonField int

const (
	fieldTopic jsonField = iota
	fieldTopics
	fieldEvent
	fieldType
	fieldEventType
	fieldData
	fieldMessage
	fieldRetry
	fieldConnection
	fieldExclude
	fieldIdempotencyKey
	numJSONFields
)

// jsonFieldNames are the names of the fields, in jsonField order.
var jsonFieldNames = [numJSONFields]string{
	"topic", "topics", "event", "type", "eventType", "data", "message", "retry", "connection", "exclude", "idempotency_key",
}

// fieldOf finds the field a key names: exactly, or else ignoring case as
// encoding/json did. ok is false for an unknown field.
func fieldOf(key []byte) (f jsonField, ok bool) {
	switch string(key) {
	case "topic":
		return fieldTopic, true
	case "topics":
		return fieldTopics, true
	case "event":
		return fieldEvent, true
	case "type":
		return fieldType, true
	case "eventType":
		return fieldEventType, true
	case "data":
		return fieldData, true
	case "message":
		return fieldMessage, true
	case "retry":
		return fieldRetry, true
	case "connection":
		return fieldConnection, true
	case "exclude":
		return fieldExclude, true
	case "idempotency_key":
		return fieldIdempotencyKey, true
	}
	for f, name := range jsonFieldNames {
		if bytes.EqualFold(key, []byte(name)) {
			return jsonField(f), true
		}
	}
	return 0, false
}

// objectOrNull decodes a publish object into o; null leaves o as it is.
func (d *jsonDecoder) objectOrNull(o *jsonEvent) error {
	if d.off < len(d.in) && d.in[d.off] == 'n' {
		return d.literal("null")
	}
	if d.off >= len(d.in) || d.in[d.off] != '{' {
		return d.typeError("the event", "an object")
	}
	if err := d.open(); err != nil {
		return err
	}
	d.ws()
	if d.off < len(d.in) && d.in[d.off] == '}' {
		d.off++
		d.depth--
		return nil
	}
	var seen [numJSONFields]bool
	for {
		keyOff := d.off
		if d.off >= len(d.in) || d.in[d.off] != '"' {
			return d.unexpected("a field name")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		f, ok := fieldOf(key)
		if !ok {
			return d.errorf(keyOff, "unknown field %q", key)
		}
		if seen[f] {
			return d.errorf(keyOff, "field %q is given twice", key)
		}
		seen[f] = true
		d.ws()
		if d.off >= len(d.in) || d.in[d.off] != ':' {
			return d.unexpected("':' after the field name")
		}
		d.off++
		d.ws()
		if err := d.field(o, f); err != nil {
			return err
		}
		more, err := d.next('}')
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// field decodes the value of field f into o.
func (d *jsonDecoder) field(o *jsonEvent, f jsonField) error {
	switch f {
	case fieldTopic:
		return d.stringOrNull(&o.Topic, f)
	case fieldTopics:
		return d.topics(o)
	case fieldEvent:
		return d.stringOrNull(&o.Event, f)
	case fieldType:
		return d.stringOrNull(&o.Type, f)
	case fieldEventType:
		return d.stringOrNull(&o.EventType, f)
	case fieldData:
		o.HasData = true
		return d.text(&o.Data)
	case fieldMessage:
		o.HasMessage = true
		return d.text(&o.Message)
	case fieldRetry:
		return d.retry(o)
	case fieldConnection:
		return d.stringOrNull(&o.Connection, f)
	case fieldExclude:
		return d.stringOrNull(&o.Exclude, f)
	default: // fieldIdempotencyKey
		return d.stringOrNull(&o.IdempotencyKey, f)
	}
}

// typeError refuses the value at off, which is not what the field takes;
// a byte that starts no JSON value is a syntax error instead.
func (d *jsonDecoder) typeError(what, want string) error {
	if d.off >= len(d.in) {
		return d.unexpected("a value")
	}
	var got string
	switch c := d.in[d.off]; {
	case c == '"':
		got = "a string"
	case c == '{':
		got = "an object"
	case c == '[':
		got = "an array"
	case c == 't' || c == 'f':
		got = "a boolean"
	case c == 'n':
		got = "null"
	case c == '-' || c >= '0' && c <= '9':
		got = "a number"
	default:
		return d.unexpected("a value")
	}
	return d.errorf(d.off, "%s is %s, want %s", what, got, want)
}

// stringOrNull decodes a string field; null leaves it empty.
func (d *jsonDecoder) stringOrNull(s *string, f jsonField) error {
	if d.off < len(d.in) {
		switch d.in[d.off] {
		case '"':
			b, err := d.str()
			*s = string(b)
			return err
		case 'n':
			return d.literal("null")
		}
	}
	return d.typeError(jsonFieldNames[f], "a string")
}

// topics decodes the topics field: an array of strings, in which a null is
// an empty string; null leaves the field nil.
func (d *jsonDecoder) topics(o *jsonEvent) error {
	if d.off < len(d.in) && d.in[d.off] == 'n' {
		return d.literal("null")
	}
	if d.off >= len(d.in) || d.in[d.off] != '[' {
		return d.typeError("topics", "an array of strings")
	}
	if err := d.open(); err != nil {
		return err
	}
	o.Topics = []string{}
	d.ws()
	if d.off < len(d.in) && d.in[d.off] == ']' {
		d.off++
		d.depth--
		return nil
	}
	for {
		var s string
		if d.off < len(d.in) && d.in[d.off] == '"' {
			b, err := d.str()
			if err != nil {
				return err
			}
			s = string(b)
		} else if d.off < len(d.in) && d.in[d.off] == 'n' {
			if err := d.literal("null"); err != nil {
				return err
			}
		} else {
			return d.typeError("an entry of topics", "a string")
		}
		o.Topics = append(o.Topics, s)
		more, err := d.next(']')
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// text decodes data or message: a string as it is, any other value as its
// compact JSON text.
func (d *jsonDecoder) text(s *string) error {
	if d.off < len(d.in) && d.in[d.off] == '"' {
		b, err := d.str()
		*s = string(b)
		return err
	}
	var err error
	d.buf, err = d.compact(d.scratch())
	*s = string(d.buf)
	return err
}

// retry decodes the retry field, an integer; null leaves it unset.
func (d *jsonDecoder) retry(o *jsonEvent) error {
	if d.off < len(d.in) && d.in[d.off] == 'n' {
		return d.literal("null")
	}
	if d.off >= len(d.in) || !(d.in[d.off] == '-' || d.in[d.off] >= '0' && d.in[d.off] <= '9') {
		return d.typeError("retry", "an integer")
	}
	start := d.off
	integer, err := d.number()
	if err != nil {
		return err
	}
	n, ok := parseInt64(d.in[start:d.off])
	if !integer || !ok {
		return d.errorf(start, "retry %s is not an integer of 64 bits", d.in[start:d.off])
	}
	o.Retry, o.HasRetry = n, true
	return nil
}

// parseInt64 parses a JSON integer (an optional minus, then digits without
// a leading zero), reporting whether it fits an int64.
func parseInt64(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	limit := uint64(1<<63 - 1)
	if neg {
		limit++
	}
	var n uint64
	for _, c := range b {
		digit := uint64(c - '0')
		if n > (limit-digit)/10 {
			return 0, false
		}
		n = n*10 + digit
	}
	if neg {
		return -int64(n), true // for 2^63 too: int64(n) wraps to -2^63, its own negation
	}
	return int64(n), true
}

// literal consumes true, false or null.
func (d *jsonDecoder) literal(word string) error {
	if !bytes.HasPrefix(d.in[d.off:], []byte(word)) {
		return d.errorf(d.off, "invalid literal, want %s", word)
	}
	d.off += len(word)
	return nil
}

// number consumes a JSON number and reports whether it has neither a
// fraction nor an exponent.
func (d *jsonDecoder) number() (integer bool, err error) {
	digits := func() int {
		start := d.off
		for d.off < len(d.in) && d.in[d.off] >= '0' && d.in[d.off] <= '9' {
			d.off++
		}
		return d.off - start
	}
	if d.in[d.off] == '-' {
		d.off++
	}
	switch {
	case d.off < len(d.in) && d.in[d.off] == '0':
		d.off++
	case digits() == 0:
		return false, d.unexpected("a digit")
	}
	integer = true
	if d.off < len(d.in) && d.in[d.off] == '.' {
		d.off++
		if digits() == 0 {
			return false, d.unexpected("a digit after the decimal point")
		}
		integer = false
	}
	if d.off < len(d.in) && (d.in[d.off] == 'e' || d.in[d.off] == 'E') {
		d.off++
		if d.off < len(d.in) && (d.in[d.off] == '+' || d.in[d.off] == '-') {
			d.off++
		}
		if digits() == 0 {
			return false, d.unexpected("a digit in the exponent")
		}
		integer = false
	}
	return integer, nil
}

// compact appends the value at off to dst without the whitespace between
// its tokens, checking it on the way.
func (d *jsonDecoder) compact(dst []byte) ([]byte, error) {
	if d.off >= len(d.in) {
		return dst, d.unexpected("a value")
	}
	start := d.off
	switch c := d.in[d.off]; {
	case c == '"':
		if err := d.skipString(); err != nil {
			return dst, err
		}
		return append(dst, d.in[start:d.off]...), nil
	case c == '-' || c >= '0' && c <= '9':
		if _, err := d.number(); err != nil {
			return dst, err
		}
		return append(dst, d.in[start:d.off]...), nil
	case c == 't':
		return append(dst, "true"...), d.literal("true")
	case c == 'f':
		return append(dst, "false"...), d.literal("false")
	case c == 'n':
		return append(dst, "null"...), d.literal("null")
	case c == '[' || c == '{':
		return d.compactContainer(dst)
	}
	return dst, d.unexpected("a value")
}

// compactContainer is compact for an array or an object.
func (d *jsonDecoder) compactContainer(dst []byte) ([]byte, error) {
	opener := d.in[d.off]
	closer := byte(']')
	if opener == '{' {
		closer = '}'
	}
	if err := d.open(); err != nil {
		return dst, err
	}
	dst = append(dst, opener)
	d.ws()
	if d.off < len(d.in) && d.in[d.off] == closer {
		d.off++
		d.depth--
		return append(dst, closer), nil
	}
	for {
		var err error
		if opener == '{' {
			start := d.off
			if d.off >= len(d.in) || d.in[d.off] != '"' {
				return dst, d.unexpected("a field name")
			}
			if err := d.skipString(); err != nil {
				return dst, err
			}
			dst = append(dst, d.in[start:d.off]...)
			d.ws()
			if d.off >= len(d.in) || d.in[d.off] != ':' {
				return dst, d.unexpected("':' after the field name")
			}
			d.off++
			d.ws()
			dst = append(dst, ':')
		}
		if dst, err = d.compact(dst); err != nil {
			return dst, err
		}
		more, err := d.next(closer)
		if err != nil {
			return dst, err
		}
		if !more {
			return append(dst, closer), nil
		}
		dst = append(dst, ',')
	}
}

// plain marks the bytes a string holds as they are: printable ASCII but
// the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainRun returns the index of the first byte from i on that is not
// plain, or len(in). It tests eight bytes at a time: long strings are
// mostly plain.
func plainRun(in []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(in); i += 8 {
		x := binary.LittleEndian.Uint64(in[i:])
		quote, backslash := x^(ones*'"'), x^(ones*'\\')
		// The high bit of a byte is set in these terms when the byte is a
		// control character, a quote, a backslash or not ASCII; exactly
		// when, as far as telling whether any byte is.
		if ((x-ones*0x20)&^x|(quote-ones)&^quote|(backslash-ones)&^backslash|x)&highs != 0 {
			break
		}
	}
	for i < len(in) && plain[in[i]] {
		i++
	}
	return i
}

// str consumes the string at off and returns its value: a part of the
// input if it holds no escapes, else d.buf, valid until the next call.
func (d *jsonDecoder) str() ([]byte, error) {
	start := d.off + 1
	i := start
	for {
		i = plainRun(d.in, i)
		if i >= len(d.in) {
			d.off = i
			return nil, d.unexpected("'\"' to end the string")
		}
		switch c := d.in[i]; {
		case c == '"':
			d.off = i + 1
			return d.in[start:i], nil
		case c == '\\':
			d.off = i
			return d.unescape(start)
		case c < 0x20:
			d.off = i
			return nil, d.errorf(i, "control character %#x in a string", c)
		default:
			n, err := d.validRune(i)
			if err != nil {
				return nil, err
			}
			i += n
		}
	}
}

// validRune checks the UTF-8 sequence at i and returns its length.
func (d *jsonDecoder) validRune(i int) (int, error) {
	r, n := utf8.DecodeRune(d.in[i:])
	if r == utf8.RuneError && n == 1 {
		d.off = i
		return 0, d.errorf(i, "invalid UTF-8 in a string")
	}
	return n, nil
}

// unescape continues str at off, the first backslash of the string that
// starts at start, decoding into d.buf.
func (d *jsonDecoder) unescape(start int) ([]byte, error) {
	b := append(d.scratch(), d.in[start:d.off]...)
	i := d.off
	for {
		run := i
		i = plainRun(d.in, i)
		b = append(b, d.in[run:i]...)
		if i >= len(d.in) {
			d.off = i
			return nil, d.unexpected("'\"' to end the string")
		}
		switch c := d.in[i]; {
		case c == '"':
			d.off = i + 1
			d.buf = b // kept for the next string
			return b, nil
		case c == '\\':
			r, n, err := d.escape(i)
			if err != nil {
				return nil, err
			}
			b = utf8.AppendRune(b, r)
			i += n
		case c < 0x20:
			d.off = i
			return nil, d.errorf(i, "control character %#x in a string", c)
		default:
			n, err := d.validRune(i)
			if err != nil {
				return nil, err
			}
			b = append(b, d.in[i:i+n]...)
			i += n
		}
	}
}

// escape decodes the escape at i, returning its rune and length. A \u
// escape of a surrogate takes the next \u escape with it if the two make a
// pair, and is U+FFFD otherwise.
func (d *jsonDecoder) escape(i int) (rune, int, error) {
	if i+1 >= len(d.in) {
		d.off = i + 1
		return 0, 0, d.unexpected("an escape")
	}
	switch d.in[i+1] {
	case '"', '\\', '/':
		return rune(d.in[i+1]), 2, nil
	case 'b':
		return '\b', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'u':
		r, ok := hex4(d.in, i+2)
		if !ok {
			d.off = i + 2
			return 0, 0, d.errorf(i, "a \\u escape wants four hex digits")
		}
		if !utf16.IsSurrogate(r) {
			return r, 6, nil
		}
		if i+7 < len(d.in) && d.in[i+6] == '\\' && d.in[i+7] == 'u' {
			if r2, ok := hex4(d.in, i+8); ok {
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					return pair, 12, nil
				}
			}
		}
		return utf8.RuneError, 6, nil
	}
	d.off = i + 1
	return 0, 0, d.errorf(i+1, "invalid escape %q in a string", `\`+string(rune(d.in[i+1])))
}

// hex4 reads the four hex digits of a \u escape at i; ok is false if
// there are not four.
func hex4(in []byte, i int) (r rune, ok bool) {
	if i+4 > len(in) {
		return 0, false
	}
	for _, c := range in[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipString consumes the string at off, checking it, for compact.
func (d *jsonDecoder) skipString() error {
	i := d.off + 1
	for {
		i = plainRun(d.in, i)
		if i >= len(d.in) {
			d.off = i
			return d.unexpected("'\"' to end the string")
		}
		switch c := d.in[i]; {
		case c == '"':
			d.off = i + 1
			return nil
		case c == '\\':
			_, n, err := d.escape(i)
			if err != nil {
				return err
			}
			i += n
		case c < 0x20:
			d.off = i
			return d.errorf(i, "control character %#x in a string", c)
		default:
			n, err := d.validRune(i)
			if err != nil {
				return err
			}
			i += n
		}
	}
}
