package detach

import (
	"context"
	"testing"
	"time"
)

// pacePool is a pool without workers, whose run queue the test controls.
func pacePool(queuedAgo ...time.Duration) *Pool {
	p := &Pool{progress: make(chan struct{}, 1)}
	for _, ago := range queuedAgo {
		p.ready = append(p.ready, &stream{readyAt: time.Now().Add(-ago)})
	}
	return p
}

// paceDone runs p.pace without a limit of its own and reports on the
// returned channel when it returned.
func paceDone(ctx context.Context, p *Pool) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		p.pace(ctx, time.Hour)
		close(done)
	}()
	return done
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("pace did not return %s", what)
	}
}

// TestPaceNotBehind: an empty run queue, or one whose first stream is
// still within its linger, does not hold a publisher up.
func TestPaceNotBehind(t *testing.T) {
	waitDone(t, paceDone(context.Background(), pacePool()), "on an empty run queue")
	waitDone(t, paceDone(context.Background(), pacePool(0)), "on a stream queued just now")
}

// TestPaceWaitsForWorkers: while the first stream has waited past its
// linger, pace waits, and returns once a worker takes it.
func TestPaceWaitsForWorkers(t *testing.T) {
	p := pacePool(time.Second)
	done := paceDone(context.Background(), p)
	select {
	case <-done:
		t.Fatal("pace returned while the workers were behind")
	case <-time.After(20 * linger):
	}
	// What a worker does in next: take the streams, then signal.
	p.mu.Lock()
	p.ready = nil
	p.mu.Unlock()
	p.progress <- struct{}{}
	waitDone(t, done, "after a worker took the streams")
}

// TestPaceContext: a publisher whose request ends stops waiting.
func TestPaceContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := paceDone(ctx, pacePool(time.Second))
	cancel()
	waitDone(t, done, "after its context ended")
}

// TestPaceLimit: pace never waits longer than its limit, so a publisher
// is slowed, never stopped.
func TestPaceLimit(t *testing.T) {
	p := pacePool(time.Second)
	start := time.Now()
	p.pace(context.Background(), 5*time.Millisecond)
	if waited := time.Since(start); waited < 5*time.Millisecond {
		t.Errorf("pace returned after %v, before its limit, while behind", waited)
	}
}
