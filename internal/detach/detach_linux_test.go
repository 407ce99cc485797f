//go:build linux

package detach

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

func TestConsume(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "ab|cde|f"},
		{1, "b|cde|f"},
		{2, "cde|f"},
		{4, "e|f"},
		{5, "f"},
		{6, ""},
	} {
		bufs := net.Buffers{[]byte("ab"), []byte("cde"), []byte("f")}
		consume(&bufs, tc.n)
		var parts []string
		for _, b := range bufs {
			parts = append(parts, string(b))
		}
		if got := strings.Join(parts, "|"); got != tc.want {
			t.Errorf("consume %d: got %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestWriteNowManyBuffers: a backlog of more buffers than one writev takes
// (IOV_MAX) is written whole, not refused with EINVAL.
func TestWriteNowManyBuffers(t *testing.T) {
	server, client := tcpPair(t)

	var bufs net.Buffers
	var want bytes.Buffer
	for i := range 3*maxIOV + 7 {
		b := []byte(strings.Repeat(string(rune('a'+i%26)), 1+i%5))
		bufs = append(bufs, b)
		want.Write(b)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(want.Len())))
		got <- b
	}()
	for len(bufs) > 0 {
		if _, err := writeNow(server.(syscall.Conn), &bufs); err != nil {
			t.Fatalf("writeNow: %v", err)
		}
	}
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("read %d bytes, want %d", len(b), want.Len())
	}
}

// TestPoolServesStreamsQueuedAfterClose: a stream that needs its writer
// after the hub closed (its slow write ended late) still gets its last
// write and is released, rather than stranded with its connection open.
func TestPoolServesStreamsQueuedAfterClose(t *testing.T) {
	pool, err := NewPool()
	if err != nil {
		t.Fatal(err)
	}
	server, client := tcpPair(t)
	s := hub.NewSubscriber("x", []string{"t"}, 10, time.Now())
	left := make(chan struct{})
	if err := pool.Serve(s, Stream{Conn: server, WriteTimeout: time.Second, Ended: func(Totals) { close(left) }}); err != nil {
		t.Fatal(err)
	}

	pool.Close()
	s.Close(hub.ReasonHubClosed) // as the late write's release would find it
	select {
	case <-left:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was stranded after the pool closed")
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(client)
	if err != nil || !bytes.Contains(b, []byte("retry:")) || !bytes.HasSuffix(b, lastChunk) {
		t.Fatalf("the client read %q (%v); want a retry hint and the last chunk, then EOF", b, err)
	}
}

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if client, err = net.Dial("tcp", l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

// chunk frames the head, events and tail with their total size, and ends
// the body with the last chunk only when the stream ends.
func TestChunkFraming(t *testing.T) {
	ev := &hub.Event{ID: "e-1", Data: "x"}
	b := hub.Batch{Head: []byte(":\n"), Events: []*hub.Event{ev}, Tail: []byte("retry: 900\n")}
	body := ":\n" + string(ev.Wire()) + "retry: 900\n"
	framed := strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n"
	for _, closed := range []bool{false, true} {
		b.Closed = closed
		var got []byte
		for _, part := range chunk(nil, nil, b) {
			got = append(got, part...)
		}
		want := framed
		if closed {
			want += "0\r\n\r\n"
		}
		if string(got) != want {
			t.Errorf("closed %v: chunk = %q, want %q", closed, got, want)
		}
	}
}
