package node

import (
	"strings"
	"testing"
)

func TestParseEvictionHard(t *testing.T) {
	defaults := DefaultEvictionThresholds()
	tests := []struct {
		in      string
		want    func(*EvictionThresholds)
		wantErr string
	}{
		{in: "", want: func(*EvictionThresholds) {}},
		{in: "memory.available<200Mi", want: func(e *EvictionThresholds) { e.MemoryAvailable = Threshold{Quantity: 200 << 20} }},
		{in: "nodefs.available<1%, nodefs.inodesFree<0.5%", want: func(e *EvictionThresholds) {
			e.NodefsAvailable = Threshold{Percent: 1}
			e.NodefsInodesFree = Threshold{Percent: 0.5}
		}},
		{in: "imagefs.available<15%,imagefs.inodesFree<5%,pid.available<100", want: func(e *EvictionThresholds) {
			e.ImagefsAvailable = Threshold{Percent: 15}
			e.ImagefsInodesFree = Threshold{Percent: 5}
			e.PIDAvailable = Threshold{Quantity: 100}
		}},
		{in: "nodefs.available<0%", want: func(e *EvictionThresholds) { e.NodefsAvailable = Threshold{} }},
		{in: "nodefs.available>10%", wantErr: "want signal<value"},
		{in: "disk.available<10%", wantErr: `unknown signal "disk.available"`},
		{in: "nodefs.available<120%", wantErr: "between 0% and 100%"},
		{in: "memory.available<lots", wantErr: "neither a percentage nor"},
		{in: "memory.available<-1Mi", wantErr: "neither a percentage nor"},
	}
	for _, tt := range tests {
		got, err := ParseEvictionHard(tt.in, defaults)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseEvictionHard(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			if got != defaults {
				t.Errorf("ParseEvictionHard(%q) on error = %+v, want the base back", tt.in, got)
			}
			continue
		}
		want := defaults
		tt.want(&want)
		if err != nil || got != want {
			t.Errorf("ParseEvictionHard(%q) = %+v, %v; want %+v", tt.in, got, err, want)
		}
	}
}

func TestThreshold(t *testing.T) {
	if !(Threshold{Percent: 10}).below(9, 100) || (Threshold{Percent: 10}).below(10, 100) {
		t.Error("10% threshold misjudges 9 and 10 of 100")
	}
	if !(Threshold{Quantity: 5}).below(4, 100) || (Threshold{Quantity: 5}).below(5, 100) {
		t.Error("quantity threshold misjudges 4 and 5")
	}
	if (Threshold{}).below(0, 100) {
		t.Error("the zero threshold fired")
	}
	if got := (Threshold{Percent: 10}).reserve(1001); got != 101 {
		t.Errorf("10%% of 1001 reserves %d, want 101 (rounded up)", got)
	}
}
