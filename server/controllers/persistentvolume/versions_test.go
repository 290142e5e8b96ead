package persistentvolume

import "testing"

func TestVersions(t *testing.T) {
	v := newVersions()
	v.record("a", "10")
	v.record("a", "7") // an older write reported late changes nothing
	v.record("odd", "not-a-number")
	for _, tc := range []struct {
		key, rv string
		stale   bool
	}{
		{"a", "9", true},
		{"a", "9", true}, // still behind: remembered
		{"other", "1", false},
		{"odd", "1", false},
		{"a", "abc", false},
		{"a", "10", false}, // caught up: forgotten
		{"a", "9", false},  // so an older copy is no longer refused
	} {
		if got := v.stale(tc.key, tc.rv); got != tc.stale {
			t.Errorf("stale(%s, %s) = %v, want %v", tc.key, tc.rv, got, tc.stale)
		}
	}
	v.record("b", "5")
	v.forget("b")
	if v.stale("b", "1") {
		t.Error("forgotten key still stale")
	}
}
