package controllers

import (
	"sync"
	"time"
)

// ExpectationsTTL bounds how long a controller waits for the informer to
// report its own creates and deletes: if a watch event is lost, the owner
// is managed again after this long anyway.
const ExpectationsTTL = 5 * time.Minute

// Expectations remembers, per owner key, the creations and deletions a
// controller has asked the API server for and its informer has not shown
// yet (upstream's controller expectations). Until they are all seen the
// owner's cache is behind: creating or deleting on it again would
// overshoot (a second pod for a replica, or for a node).
//
// Deletions are awaited either by count (Expect, Observed) or by the keys
// of the objects deleted (ExpectDeletionsOf, DeletionObserved): keys make
// an object seen twice (being deleted, then gone) count once, and a
// deletion someone else made not count at all.
type Expectations struct {
	mu    sync.Mutex
	byKey map[string]*expected
	now   func() time.Time
}

type expected struct {
	creates, deletes int
	deleting         map[string]bool // keys of objects whose deletion is awaited
	since            time.Time
}

// NewExpectations returns Expectations awaiting nothing.
func NewExpectations() *Expectations {
	return &Expectations{byKey: map[string]*expected{}, now: time.Now}
}

// Satisfied tells whether the owner key may be managed: nothing awaited,
// or the wait has gone on for longer than ExpectationsTTL.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byKey[key]
	if !ok {
		return true
	}
	return (x.creates <= 0 && x.deletes <= 0 && len(x.deleting) == 0) || e.now().Sub(x.since) > ExpectationsTTL
}

// Expect replaces what key awaits with creates creations and deletes
// deletions (an owner is only managed once what it awaited before was
// satisfied).
func (e *Expectations) Expect(key string, creates, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expected{creates: creates, deletes: deletes, since: e.now()}
}

// ExpectDeletionsOf replaces what key awaits with the deletion of the
// objects with the given keys.
func (e *Expectations) ExpectDeletionsOf(key string, objectKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expected{deleting: make(map[string]bool, len(objectKeys)), since: e.now()}
	for _, k := range objectKeys {
		x.deleting[k] = true
	}
	e.byKey[key] = x
}

// Observed counts creates creations and deletes deletions as seen, or as
// never going to be seen (their request failed).
func (e *Expectations) Observed(key string, creates, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		x.creates -= creates
		x.deletes -= deletes
	}
}

// DeletionObserved counts the deletion of the object objectKey as seen,
// if ExpectDeletionsOf awaited it.
func (e *Expectations) DeletionObserved(key, objectKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		delete(x.deleting, objectKey)
	}
}

// Forget drops everything key awaited (its owner is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
