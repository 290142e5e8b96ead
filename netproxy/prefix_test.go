package netproxy

import (
	"net"
	"testing"
)

func TestToPrefix(t *testing.T) {
	_, v4, _ := net.ParseCIDR("10.42.0.0/16")
	_, v6, _ := net.ParseCIDR("fd42::/56")
	tests := []struct {
		name    string
		in      *net.IPNet
		want    string
		wantErr bool
	}{
		{"parsed IPv4", v4, "10.42.0.0/16", false},
		{"parsed IPv6", v6, "fd42::/56", false},
		{"16-byte IPv4 with 4-byte mask", &net.IPNet{IP: net.ParseIP("10.42.3.4"), Mask: net.CIDRMask(16, 32)}, "10.42.0.0/16", false},
		{"16-byte IPv4 with 16-byte mask", &net.IPNet{IP: net.ParseIP("10.42.3.4"), Mask: net.CIDRMask(112, 128)}, "10.42.0.0/16", false},
		{"nil", nil, "", true},
		{"no mask", &net.IPNet{IP: net.ParseIP("10.42.0.0")}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toPrefix(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
