package controllers

import (
	"errors"
	"sync"
)

// SlowStart calls fn(0) ... fn(count-1) in batches of 1, 2, 4, ... calls
// run in parallel, as upstream's workload controllers create pods: it
// stops after the first batch with a failure, so that a cause failing
// every call (a quota, a missing PriorityClass) costs few requests and
// events. It returns how many calls it made (count - made were never
// tried: what they would have created is awaited no more) and the
// failures, in no particular order.
func SlowStart(count int, fn func(i int) error) (made int, failures []error) {
	var mu sync.Mutex
	for batch := min(count, 1); batch > 0; batch = min(2*batch, count-made) {
		var wg sync.WaitGroup
		for i := made; i < made+batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(i); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		made += batch
		if len(failures) > 0 {
			break
		}
	}
	return made, failures
}

// Parallel calls fn(0) ... fn(count-1) all at once and returns their
// errors joined.
func Parallel(count int, fn func(i int) error) error {
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
