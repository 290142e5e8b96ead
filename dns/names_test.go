package dns

import (
	"net/netip"
	"testing"
)

func TestReverseAddress(t *testing.T) {
	tests := []struct {
		name string
		want string // "" when the name does not name one address
	}{
		{"4.3.2.1.in-addr.arpa.", "1.2.3.4"},
		{"4.3.2.1.IN-ADDR.ARPA.", "1.2.3.4"},
		{"255.0.43.10.in-addr.arpa.", "10.43.0.255"},
		{"3.2.1.in-addr.arpa.", ""},
		{"256.3.2.1.in-addr.arpa.", ""},
		{"04.3.2.1.in-addr.arpa.", ""},
		{"x.3.2.1.in-addr.arpa.", ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "fd00::1"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.ip6.arpa.", ""},
		{"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", ""},
		{"example.com.", ""},
	}
	for _, tt := range tests {
		got, ok := reverseAddress(tt.name)
		if tt.want == "" {
			if ok {
				t.Errorf("reverseAddress(%q) = %s, want none", tt.name, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("reverseAddress(%q) = %s %v, want %s", tt.name, got, ok, tt.want)
		}
	}
}

func TestPodAddress(t *testing.T) {
	tests := []struct {
		label string
		want  string
	}{
		{"10-42-0-5", "10.42.0.5"},
		{"fd00--5", "fd00::5"},
		{"fd00-42-0-0-0-0-0-5", "fd00:42::5"},
		{"10-42-0", ""},
		{"10-42-0-300", ""},
		{"web-0", ""},
		{"1-2-3-4-5", ""},
	}
	for _, tt := range tests {
		got, ok := podAddress(tt.label)
		if tt.want == "" {
			if ok {
				t.Errorf("podAddress(%q) = %s, want none", tt.label, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("podAddress(%q) = %s %v, want %s", tt.label, got, ok, tt.want)
		}
	}
}

func TestEndpointLabel(t *testing.T) {
	tests := []struct {
		addr endpointAddress
		want string
	}{
		{endpointAddress{ip: netip.MustParseAddr("10.42.0.5"), hostname: "db-0"}, "db-0"},
		{endpointAddress{ip: netip.MustParseAddr("10.42.0.5")}, "10-42-0-5"},
		{endpointAddress{ip: netip.MustParseAddr("fd00::5")}, "fd00--5"},
	}
	for _, tt := range tests {
		if got := endpointLabel(tt.addr); got != tt.want {
			t.Errorf("endpointLabel(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
