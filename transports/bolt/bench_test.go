package bolt

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// BenchmarkAppend publishes one event per Append from 1 and 32 concurrent
// publishers, on the memory transport and on bolt (each Append waits for
// its commit to reach the disk), and reports publishes/s.
func BenchmarkAppend(b *testing.B) {
	ret := hub.Retention{History: 1000, Idempotency: 5 * time.Minute}
	openers := []struct {
		name string
		open func(b *testing.B) hub.Transport
	}{
		{"memory", func(b *testing.B) hub.Transport {
			tr, _ := hub.Memory{}.OpenTransport(hub.TransportConfig{Retention: ret, Deliver: func([]*hub.Event) {}})
			return tr
		}},
		{"bolt", func(b *testing.B) hub.Transport {
			tr, err := Open(filepath.Join(b.TempDir(), "hub.db"), time.Second, hub.TransportConfig{Retention: ret, Deliver: func([]*hub.Event) {}})
			if err != nil {
				b.Fatal(err)
			}
			return tr
		}},
	}
	for _, o := range openers {
		for _, publishers := range []int{1, 32} {
			b.Run(o.name+"/publishers="+strconv.Itoa(publishers), func(b *testing.B) {
				tr := o.open(b)
				defer tr.Close()
				var left atomic.Int64
				left.Store(int64(b.N))
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for range publishers {
					wg.Go(func() {
						for left.Add(-1) >= 0 {
							e := &hub.Event{Topics: []string{"bench"}, Data: `{"n":1}`}
							if err := tr.Append(context.Background(), []*hub.Event{e}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
			})
		}
	}
}
