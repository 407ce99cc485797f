//go:build !linux

package detach

import (
	"errors"
	"net"
	"syscall"

	"github.com/caddy-sse/caddy-sse/hub"
)

// closeWatcher is only implemented with epoll; elsewhere streams are never
// taken over and keep their serving goroutine.
type closeWatcher struct{}

func newCloseWatcher() (*closeWatcher, error) {
	return nil, errors.New("taking over connections needs Linux")
}

func (*closeWatcher) add(*hub.Subscriber, syscall.Conn) (uint64, error) {
	return 0, errors.New("unsupported")
}
func (*closeWatcher) remove(uint64, syscall.Conn) {}
func (*closeWatcher) close()                      {}

func sendRoom(syscall.Conn) (int, error) { return 0, errors.New("unsupported") }

func writeNow(syscall.Conn, *net.Buffers) (bool, error) {
	return false, errors.New("unsupported")
}
