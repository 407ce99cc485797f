package sseenc

import (
	"fmt"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/caddy-sse/caddy-sse/hub"
)

// BenchmarkFanOutSockets is BenchmarkFanOut with each stream a socket
// written with writev, as the hub's detached writers write: the cost of
// compressing next to that of the write itself.
func BenchmarkFanOutSockets(b *testing.B) {
	const subscribers = 1000
	for _, c := range []Codec{Identity, Gzip, Zstd} {
		b.Run("codec="+c.name()+"/subscribers=1000", func(b *testing.B) {
			type sock struct {
				enc    Stream
				w, r   int
				iovecs [][]byte
			}
			socks := make([]sock, subscribers)
			for i := range socks {
				fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
				if err != nil {
					b.Fatal(err)
				}
				if err := syscall.SetNonblock(fds[1], true); err != nil {
					b.Fatal(err)
				}
				socks[i] = sock{enc: NewStream(c), w: fds[0], r: fds[1]}
				b.Cleanup(func() {
					syscall.Close(fds[0])
					syscall.Close(fds[1])
				})
			}
			drain := func() {
				buf := make([]byte, 64<<10)
				for _, s := range socks {
					for {
						if n, err := syscall.Read(s.r, buf); n <= 0 || err != nil {
							break
						}
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%64 == 63 {
					b.StopTimer()
					drain()
					b.StartTimer()
				}
				e := &hub.Event{ID: fmt.Sprint(i), Data: benchData}
				e.Wire() // as the hub does when storing it
				for j := range socks {
					s := &socks[j]
					s.iovecs = s.enc.Append(s.iovecs[:0], nil, []*hub.Event{e}, nil, false)
					if _, err := unix.Writev(s.w, s.iovecs); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
