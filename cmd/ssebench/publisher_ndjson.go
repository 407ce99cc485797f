package main

// This file holds the streaming publisher of -ndjson: each of -publishers
// goroutines sends one long application/x-ndjson POST, writing -batch lines
// at a time, paced to -rate (or flat out), while a second goroutine reads
// the ack lines, which come in the order of the lines.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// sentLines is a run of lines written to a stream, waiting for its acks.
type sentLines struct {
	first, last uint64
	at          time.Time
}

// streamWorker publishes over one streaming request until the phase ends.
func (p *publisher) streamWorker(ctx context.Context) {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, pr)
	if err != nil {
		p.fail(1, err)
		return
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	// The window of runs written but not yet acked; a full window stops
	// the writer, as the server's backpressure would.
	pending := make(chan sentLines, 256)
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		p.readAcks(ctx, req, pr, pending)
	}()
	p.writeLines(ctx, pw, pending)
	close(pending)
	pw.Close()
	<-acked
}

// writeLines claims and writes runs of -batch lines, paced as worker does.
func (p *publisher) writeLines(ctx context.Context, w io.Writer, pending chan<- sentLines) {
	var buf []byte
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, last, ok := p.claim(ctx, timer)
		if !ok {
			return
		}
		buf = buf[:0]
		ts := time.Now().UnixNano()
		for seq := first; seq <= last; seq++ {
			buf = p.appendEvent(buf, seq, ts)
			buf = append(buf, '\n')
		}
		pending <- sentLines{first: first, last: last, at: time.Now()}
		if _, err := w.Write(buf); err != nil {
			return // the reader counts the lines without an ack
		}
	}
}

// readAcks sends the request and matches its ack lines to the runs
// written, in order; lines without an ack when the answer ends are failed,
// and the body is closed so that the writer stops.
func (p *publisher) readAcks(ctx context.Context, req *http.Request, body *io.PipeReader, pending <-chan sentLines) {
	unacked := func(err error) {
		body.CloseWithError(err)
		for run := range pending {
			if ctx.Err() == nil {
				p.fail(run.last-run.first+1, err)
			}
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		unacked(err)
		return
	}
	defer resp.Body.Close()
	p.requests.Add(1)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		unacked(fmt.Errorf("HTTP %d: %s", resp.StatusCode, errorMessage(body)))
		return
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for run := range pending {
		for seq := run.first; seq <= run.last; seq++ {
			line, err := r.ReadSlice('\n')
			if err != nil {
				err = fmt.Errorf("reading acks: %w", err)
				if ctx.Err() == nil {
					p.fail(run.last-seq+1, err)
				}
				unacked(err)
				return
			}
			if !bytes.HasPrefix(line, []byte(`{"id":`)) {
				p.fail(1, fmt.Errorf("line refused: %s", errorMessage(line)))
				continue
			}
			p.acked.addRange(seq, seq)
			if v, _, ok := numberAfterKey(line, subscribersKey); ok {
				for m := p.subsMin.Load(); (m < 0 || int64(v) < m) && !p.subsMin.CompareAndSwap(m, int64(v)); m = p.subsMin.Load() {
				}
				for m := p.subsMax.Load(); int64(v) > m && !p.subsMax.CompareAndSwap(m, int64(v)); m = p.subsMax.Load() {
				}
			}
		}
		p.rtt.record(uint64(time.Since(run.at).Microseconds()))
	}
}
