package probe

import (
	"runtime/debug"
	"testing"

	"k8s.io/apimachinery/pkg/version"
)

func TestProbeUserAgent(t *testing.T) {
	apiDep := func(v string, replace string) *debug.BuildInfo {
		m := &debug.Module{Path: "k8s.io/api", Version: v}
		if replace != "" {
			m.Replace = &debug.Module{Path: "k8s.io/api", Version: replace}
		}
		return &debug.BuildInfo{Deps: []*debug.Module{{Path: "k8s.io/apimachinery", Version: "v0.99.0"}, m}}
	}
	tests := []struct {
		name  string
		v     version.Info
		build *debug.BuildInfo
		want  string
	}{
		{name: "stamped", v: version.Info{Major: "1", Minor: "37"}, want: "kube-probe/1.37"},
		{name: "stamped with plus", v: version.Info{Major: "1", Minor: "37+"}, build: apiDep("v0.36.0", ""), want: "kube-probe/1.37"},
		{name: "from k8s.io/api", build: apiDep("v0.37.2", ""), want: "kube-probe/1.37"},
		{name: "from replaced k8s.io/api", build: apiDep("v0.0.0", "v0.37.2"), want: "kube-probe/1.37"},
		{name: "nothing known", want: "kube-probe"},
	}
	for _, tt := range tests {
		if got := probeUserAgent(tt.v, tt.build); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
