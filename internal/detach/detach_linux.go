//go:build linux

package detach

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/caddy-sse/caddy-sse/hub"
)

// closeWatcher notices clients that close a taken-over connection, with
// one epoll set for all of them instead of a goroutine blocked in Read for
// each. It watches only for the peer's hang-up (EPOLLRDHUP), never for
// data, so a connection costs it a map entry.
type closeWatcher struct {
	epfd   int
	wakefd int // an eventfd that ends the loop

	mu     sync.Mutex
	tokens map[uint64]*hub.Subscriber
	next   uint64
	closed bool
}

const wakeToken = 0

func newCloseWatcher() (*closeWatcher, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	w := &closeWatcher{epfd: epfd, wakefd: wakefd, tokens: make(map[uint64]*hub.Subscriber), next: wakeToken + 1}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setToken(&ev, wakeToken)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	go w.loop()
	return w, nil
}

// epoll_event's data is a union; x/sys exposes it as two int32 halves.
func setToken(ev *unix.EpollEvent, t uint64) {
	ev.Fd, ev.Pad = int32(uint32(t)), int32(uint32(t>>32))
}

func getToken(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// add watches conn for the client hanging up; the subscriber is closed
// when it does. The returned token removes the watch.
func (w *closeWatcher) add(s *hub.Subscriber, conn syscall.Conn) (uint64, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errors.New("watcher closed")
	}
	token := w.next
	w.next++
	ev := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setToken(&ev, token)
	var ctlErr error
	if err := raw.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}); err != nil {
		return 0, err
	}
	if ctlErr != nil {
		return 0, fmt.Errorf("epoll_ctl: %w", ctlErr)
	}
	w.tokens[token] = s
	return token, nil
}

// remove stops watching; call it before the connection is closed.
func (w *closeWatcher) remove(token uint64, conn syscall.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.tokens, token)
	if w.closed {
		return // the epoll set is gone, and its number may be reused
	}
	if raw, err := conn.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
}

func (w *closeWatcher) loop() {
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for i := range n {
			token := getToken(&events[i])
			if token == wakeToken {
				w.mu.Lock()
				unix.Close(w.epfd)
				unix.Close(w.wakefd)
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			s := w.tokens[token]
			w.mu.Unlock()
			if s != nil {
				s.Close(hub.ReasonClientGone)
			}
		}
	}
}

// close ends the loop, which closes the epoll set.
func (w *closeWatcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(w.wakefd, one[:])
}

// sendRoom is how many bytes the socket's send buffer takes now without
// waiting: half its size (the kernel counts its bookkeeping in the other
// half) less what is queued.
func sendRoom(sc syscall.Conn) (int, error) {
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var size, queued int
	var opErr error
	if err := raw.Control(func(fd uintptr) {
		if size, opErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF); opErr == nil {
			queued, opErr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		}
	}); err != nil {
		return 0, err
	}
	if opErr != nil {
		return 0, opErr
	}
	return size/2 - queued, nil
}

// maxIOV is how many buffers one writev takes (the kernel's IOV_MAX);
// more fail with EINVAL.
const maxIOV = 1024

// writeNow writes as much of bufs as the socket takes without waiting and
// consumes it from bufs; done reports that nothing is left. It spares the
// pool's workers both a wait on a full socket and the cost of a deadline.
func writeNow(sc syscall.Conn, bufs *net.Buffers) (done bool, err error) {
	raw, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	var werr error
	if err := raw.Write(func(fd uintptr) bool {
		for len(*bufs) > 0 {
			part := (*bufs)[:min(len(*bufs), maxIOV)]
			var n int
			if n, werr = unix.Writev(int(fd), part); werr != nil {
				break
			}
			full := n < buffersLen(part)
			consume(bufs, n)
			if full {
				break
			}
		}
		return true // never wait for the socket to drain
	}); err != nil {
		return false, err
	}
	if werr != nil && werr != unix.EAGAIN && werr != unix.EINTR {
		return false, werr
	}
	return len(*bufs) == 0, nil
}

// consume drops the first n bytes from bufs.
func consume(bufs *net.Buffers, n int) {
	for len(*bufs) > 0 && n >= len((*bufs)[0]) {
		n -= len((*bufs)[0])
		(*bufs)[0] = nil
		*bufs = (*bufs)[1:]
	}
	if len(*bufs) > 0 {
		(*bufs)[0] = (*bufs)[0][n:]
	}
}
