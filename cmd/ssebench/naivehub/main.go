// Command naivehub is the hub users write by hand before they need one —
// a set of open responses, a broadcast loop under a mutex, a buffered
// channel and a goroutine per subscriber, one flush per event — speaking
// the protocol ssebench drives. It is the same-tool baseline of
// BENCHMARKS.md: the load tool's own cost bounds latency on a shared
// machine, so figures are compared with this server measured the same way.
//
//	go run ./cmd/ssebench/naivehub -listen 127.0.0.1:8091
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"sync"
)

type hub struct {
	mu   sync.Mutex
	seq  int
	subs map[chan []byte]string // channel -> topic
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8091", "address to serve on (loopback)")
	flag.Parse()
	h := &hub{subs: make(map[chan []byte]string)}
	http.HandleFunc("GET /events", h.subscribe)
	http.HandleFunc("POST /publish", h.publish)
	log.Fatal(http.ListenAndServe(*listen, nil))
}

func (h *hub) subscribe(w http.ResponseWriter, r *http.Request) {
	topic := r.URL.Query().Get("topic")
	ch := make(chan []byte, 256)
	h.mu.Lock()
	h.subs[ch] = topic
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fmt.Fprintf(w, "event: connected\ndata: {\"connection\":\"%p\",\"topics\":[%q]}\n\n", ch, topic)
	w.(http.Flusher).Flush()
	for {
		select {
		case msg := <-ch:
			if _, err := w.Write(msg); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func (h *hub) publish(w http.ResponseWriter, r *http.Request) {
	var ev struct{ Topic, Data string }
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.seq++
	id := strconv.Itoa(h.seq)
	msg := []byte("id: " + id + "\ndata: " + ev.Data + "\n\n")
	n := 0
	for ch, topic := range h.subs {
		if topic == ev.Topic {
			select {
			case ch <- msg:
				n++
			default: // a full buffer drops the event: no replay here
			}
		}
	}
	h.mu.Unlock()
	fmt.Fprintf(w, "{\"id\":%q,\"subscribers\":%d}", id, n)
}
