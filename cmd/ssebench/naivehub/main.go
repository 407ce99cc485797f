// Command naivehub is the hub users write by hand before they need one —
// a set of open responses, a broadcast loop under a mutex, a buffered
// channel and a goroutine per subscriber, one flush per event — speaking
// the protocol ssebench drives. It is the same-tool baseline of
// BENCHMARKS.md: the load tool's own cost bounds latency on a shared
// machine, so figures are compared with this server measured the same way.
//
//	go run ./cmd/ssebench/naivehub -listen 127.0.0.1:8091
//	go run ./cmd/ssebench/naivehub -listen 127.0.0.1:8444 -tls
//
// With -tls it serves HTTPS, HTTP/2 and HTTP/1.1 by ALPN as net/http does
// by default, with a self-signed certificate made at start.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

type hub struct {
	mu   sync.Mutex
	seq  int
	subs map[chan []byte]string // channel -> topic
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8091", "address to serve on (loopback)")
	useTLS := flag.Bool("tls", false, "serve HTTPS (HTTP/2 and HTTP/1.1) with a self-signed certificate")
	flag.Parse()
	h := &hub{subs: make(map[chan []byte]string)}
	http.HandleFunc("GET /events", h.subscribe)
	http.HandleFunc("POST /publish", h.publish)
	if !*useTLS {
		log.Fatal(http.ListenAndServe(*listen, nil))
	}
	cert, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *listen, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "naivehub"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
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
