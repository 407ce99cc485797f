//go:build linux

package caddysse

import (
	"bytes"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

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
