package controllers

import (
	"testing"
	"time"
)

func TestExpectationsByKey(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := NewExpectations()
	e.now = func() time.Time { return now }
	if !e.Satisfied("ns/rs") {
		t.Fatal("nothing awaited, yet not satisfied")
	}
	e.Expect("ns/rs", 2, 0)
	e.Observed("ns/rs", 1, 0)
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with one creation still awaited")
	}
	e.Observed("ns/rs", 1, 0)
	if !e.Satisfied("ns/rs") {
		t.Fatal("not satisfied with every creation seen")
	}
	e.ExpectDeletionsOf("ns/rs", []string{"ns/a", "ns/b"})
	e.DeletionObserved("ns/rs", "ns/a")
	e.DeletionObserved("ns/rs", "ns/a") // seen twice: counts once
	e.DeletionObserved("ns/rs", "ns/other")
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with ns/b still awaited")
	}
	now = now.Add(ExpectationsTTL + time.Second)
	if !e.Satisfied("ns/rs") {
		t.Fatal("still waiting after the TTL")
	}
	e.Forget("ns/rs")
	if !e.Satisfied("ns/rs") {
		t.Fatal("forgotten, yet not satisfied")
	}
}

func TestExpectationsByCount(t *testing.T) {
	e := NewExpectations()
	e.Expect("ns/ds", 1, 2)
	e.Observed("ns/ds", 1, 1)
	if e.Satisfied("ns/ds") {
		t.Fatal("satisfied with a deletion still awaited")
	}
	e.Observed("ns/other", 0, 1) // another owner's deletion
	if e.Satisfied("ns/ds") {
		t.Fatal("another owner's deletion counted")
	}
	e.Observed("ns/ds", 0, 1)
	if !e.Satisfied("ns/ds") {
		t.Fatal("not satisfied with everything seen")
	}
	e.Expect("ns/ds", 1, 0)
	if e.Satisfied("ns/ds") {
		t.Fatal("a new expectation did not replace the satisfied one")
	}
}
