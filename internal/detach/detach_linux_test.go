//go:build linux

package detach

import (
	"bytes"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
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
	h := NewHub(HubConfig{History: 10})
	pool, err := h.writers()
	if err != nil {
		t.Fatal(err)
	}
	server, client := tcpPair(t)

	s := NewSubscriber("x", []string{"t"}, 10, time.Now())
	left := make(chan struct{})
	d := &detached{conn: server, sc: server.(syscall.Conn), timeout: time.Second, leave: func() { close(left) }, pool: pool}
	if d.token, err = pool.watcher.add(s, d.sc); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.det = d
	s.mu.Unlock()

	h.Close()
	s.Close(ReasonHubClosed) // as the late write's release would find it
	select {
	case <-left:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was stranded after the hub closed")
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
