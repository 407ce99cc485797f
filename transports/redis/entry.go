package redis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// The fields of a stream entry. An application that speaks Redis may XADD
// entries of this layout itself; every node validates them as it validates
// HTTP publishes and skips, with a warning, those it refuses.
//
//	topic       the topic; several topics one per line ("\n"-separated);
//	            needed unless connection is set
//	data        the payload (may be empty or absent)
//	event       the event name; absent means "message"
//	retry       the reconnection delay hint, in milliseconds
//	connection  deliver only to this connection id
//	exclude     deliver to everyone but this connection id
//
// Any other field makes the entry invalid: a misspelt field never passes
// silently.
const (
	fieldTopic      = "topic"
	fieldData       = "data"
	fieldEvent      = "event"
	fieldRetry      = "retry"
	fieldConnection = "connection"
	fieldExclude    = "exclude"
)

// maxEntrySize bounds an entry's encoded size when the reader validates
// it: the largest max_event_size a route may set, since the reader cannot
// know which route published it.
const maxEntrySize = 1 << 30

// maxRetry is the largest retry hint a publish may set, as over HTTP.
const maxRetry = 24 * time.Hour

// entryFields appends the XADD field-value pairs of e to args.
func entryFields(args []any, e *hub.Event) []any {
	if len(e.Topics) > 0 {
		args = append(args, fieldTopic, strings.Join(e.Topics, "\n"))
	}
	args = append(args, fieldData, e.Data)
	if e.Name != "" {
		args = append(args, fieldEvent, e.Name)
	}
	if e.Retry > 0 {
		args = append(args, fieldRetry, strconv.FormatInt(e.Retry.Milliseconds(), 10))
	}
	if e.Connection != "" {
		args = append(args, fieldConnection, e.Connection)
	}
	if e.Exclude != "" {
		args = append(args, fieldExclude, e.Exclude)
	}
	return args
}

// decodeEntry makes an event of an entry's fields and validates it.
func decodeEntry(fields map[string]any) (*hub.Event, error) {
	e := new(hub.Event)
	for k, raw := range fields {
		v, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("field %q is not a string", k)
		}
		switch k {
		case fieldTopic:
			e.Topics = strings.Split(v, "\n")
		case fieldData:
			e.Data = v
		case fieldEvent:
			e.Name = v
		case fieldRetry:
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxRetry {
				return nil, fmt.Errorf("retry %q: want milliseconds from 0 to %d", v, maxRetry.Milliseconds())
			}
			e.Retry = time.Duration(ms) * time.Millisecond
		case fieldConnection:
			e.Connection = v
		case fieldExclude:
			e.Exclude = v
		default:
			return nil, fmt.Errorf("unknown field %q", k)
		}
	}
	if err := e.Validate(maxEntrySize); err != nil {
		return nil, err
	}
	return e, nil
}

// entryMap turns the flat field-value list of a raw XRANGE reply into
// the map the reader gets from XREAD.
func entryMap(flat []any) map[string]any {
	m := make(map[string]any, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		if k, ok := flat[i].(string); ok {
			m[k] = flat[i+1]
		}
	}
	return m
}
