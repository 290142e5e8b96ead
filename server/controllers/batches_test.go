package controllers

import (
	"errors"
	"sync"
	"testing"
)

func TestSlowStart(t *testing.T) {
	for _, tc := range []struct {
		name             string
		count, failAt    int // failAt: calls from this one on fail (0: never)
		wantMade, wantOK int
	}{
		{"all succeed", 10, 0, 10, 10},
		{"nothing to do", 0, 0, 0, 0},
		{"first fails: one call only", 10, 1, 1, 0},
		{"fails in the third batch", 10, 4, 7, 3},
	} {
		var mu sync.Mutex
		calls := 0
		seen := map[int]bool{}
		made, failures := SlowStart(tc.count, func(i int) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			seen[i] = true
			// Batches are 1, 2, 4, ...: every call of the batch holding
			// call failAt has a number at least failAt.
			if tc.failAt > 0 && calls >= tc.failAt {
				return errors.New("refused")
			}
			return nil
		})
		if made != tc.wantMade || calls != made || len(seen) != made || made-len(failures) != tc.wantOK {
			t.Errorf("%s: made %d (%d calls, %d indexes), %d failed; want %d made, %d ok", tc.name, made, calls, len(seen), len(failures), tc.wantMade, tc.wantOK)
		}
	}
}

func TestParallel(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]bool{}
	err := Parallel(5, func(i int) error {
		mu.Lock()
		defer mu.Unlock()
		seen[i] = true
		if i == 3 {
			return errors.New("three")
		}
		return nil
	})
	if len(seen) != 5 || err == nil || err.Error() != "three" {
		t.Errorf("called %v, error %v", seen, err)
	}
}
