package scheduler

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// maxWorkers bounds the goroutines that look at nodes for one pod, as
// upstream's default parallelism does.
const maxWorkers = 16

// parallelThreshold is the node count below which a loop runs inline:
// starting goroutines would cost more than it saves.
const parallelThreshold = 64

// forEach calls f(i) for i in [0, n) on several goroutines, handing out
// chunks of indexes, until all are done or stop returns true.
func forEach(n int, stop func() bool, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), maxWorkers)
	if n < parallelThreshold || workers < 2 {
		for i := 0; i < n; i++ {
			if stop != nil && stop() {
				return
			}
			f(i)
		}
		return
	}
	chunk := max(1, int(math.Sqrt(float64(n))))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if stop != nil && stop() {
					return
				}
				start := int(next.Add(int64(chunk))) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					f(i)
				}
			}
		}()
	}
	wg.Wait()
}
