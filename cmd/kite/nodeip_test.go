package main

import (
	"strings"
	"testing"
)

func TestDefaultRouteInterface(t *testing.T) {
	const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	tests := []struct {
		name  string
		table string
		want  string
	}{
		{
			name: "default route after a subnet route",
			table: header +
				"eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
				"eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
			want: "eth0",
		},
		{
			name:  "no default route",
			table: header + "eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
			want:  "",
		},
		{name: "empty", table: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultRouteInterface(strings.NewReader(tt.table)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// The machine's own answer is whatever it is, but when there is one it is
// an IPv4 address other machines can reach.
func TestSystemDefaultIP(t *testing.T) {
	ip := systemHost{}.DefaultIP()
	if ip == nil {
		t.Skip("no non-loopback IPv4 address on this machine")
	}
	if ip.To4() == nil || ip.IsUnspecified() || ip.IsLoopback() {
		t.Errorf("DefaultIP() = %v", ip)
	}
}
