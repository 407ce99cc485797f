// Package ssetest reads event streams the way a browser's EventSource
// does, for the tests of every package that writes them.
package ssetest

import (
	"strconv"
	"strings"
)

// This parser reads an event stream the way a browser's EventSource
// does (WHATWG HTML, "Parsing an event stream" and "Dispatch the event"),
// so the tests check the encoder against what clients will actually see
// rather than against the encoder's own idea of the format.

// Event is one event as EventSource dispatches it.
type Event struct {
	Type        string // "message" when no event field was given
	Data        string
	LastEventID string
}

// Stream is what an EventSource made of a whole stream.
type Stream struct {
	Events  []Event
	Retry   int64 // the last valid retry field in ms; -1 when none
	Lines   []string
	Partial string // text after the last line terminator, never processed
}

// Lines splits a stream into lines the way the spec does: CRLF, LF and
// CR each end a line. Text after the last terminator is returned apart: a
// stream that ends there has not finished that line.
func Lines(s string) (lines []string, rest string) {
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return lines, s
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

// Parse parses a complete stream. It expects valid UTF-8, which is what
// the decoder step of the spec hands to the parser.
func Parse(stream string) Stream {
	stream = strings.TrimPrefix(stream, "\uFEFF")
	lines, rest := Lines(stream)
	out := Stream{Retry: -1, Lines: lines, Partial: rest}
	var data strings.Builder
	var eventType, lastIDBuffer string
	for _, line := range lines {
		if line == "" {
			// Dispatch: the last event id is updated even when nothing
			// is dispatched.
			lastID := lastIDBuffer
			if data.Len() == 0 {
				eventType = ""
				continue
			}
			d := strings.TrimSuffix(data.String(), "\n")
			typ := eventType
			if typ == "" {
				typ = "message"
			}
			out.Events = append(out.Events, Event{Type: typ, Data: d, LastEventID: lastID})
			data.Reset()
			eventType = ""
			continue
		}
		if line[0] == ':' {
			continue // a comment
		}
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			eventType = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.Contains(value, "\x00") {
				lastIDBuffer = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				if ms, err := strconv.ParseInt(value, 10, 64); err == nil {
					out.Retry = ms
				}
			}
		}
	}
	// An event not ended by a blank line is discarded at the end of the
	// stream, as the spec says.
	return out
}

// Normalize is data as a client reads it back: every line break is LF.
func Normalize(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// FieldsOnly reports the first line of an encoded event that is neither
// empty nor one of the fields the encoder may write.
func FieldsOnly(wire string) (bad string, ok bool) {
	lines, rest := Lines(wire)
	if rest != "" {
		return rest, false
	}
	for _, l := range lines {
		if l == "" {
			continue
		}
		allowed := false
		for _, p := range []string{"id: ", "event: ", "retry: ", "data: "} {
			if strings.HasPrefix(l, p) {
				allowed = true
				break
			}
		}
		if !allowed {
			return l, false
		}
	}
	return "", true
}
