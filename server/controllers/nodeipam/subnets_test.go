package nodeipam

import (
	"net"
	"testing"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSubnetsAllocateInOrderAndExhaust(t *testing.T) {
	tests := []struct {
		cluster string
		mask    int
		want    []string
	}{
		{"10.42.0.0/22", 24, []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"}},
		{"10.42.7.9/23", 24, []string{"10.42.6.0/24", "10.42.7.0/24"}},
		{"fd00:42::/62", 64, []string{"fd00:42::/64", "fd00:42:0:1::/64", "fd00:42:0:2::/64", "fd00:42:0:3::/64"}},
		{"10.0.0.0/24", 24, []string{"10.0.0.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			s, err := newSubnets(mustCIDR(t, tt.cluster), tt.mask)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				got, err := s.allocate()
				if err != nil {
					t.Fatalf("allocate: %v", err)
				}
				if got.String() != want {
					t.Fatalf("allocated %s, want %s", got, want)
				}
			}
			if got, err := s.allocate(); err != errExhausted {
				t.Fatalf("allocate on a full range = %v, %v; want errExhausted", got, err)
			}
		})
	}
}

func TestSubnetsOccupyReleaseAndReuse(t *testing.T) {
	s, err := newSubnets(mustCIDR(t, "10.42.0.0/22"), 24)
	if err != nil {
		t.Fatal(err)
	}
	// A service range covering two subnets takes both.
	if err := s.occupy(mustCIDR(t, "10.42.2.0/23")); err != nil {
		t.Fatal(err)
	}
	if err := s.occupy(mustCIDR(t, "10.42.0.0/24")); err != nil {
		t.Fatal(err)
	}
	got, err := s.allocate()
	if err != nil || got.String() != "10.42.1.0/24" {
		t.Fatalf("allocate = %v, %v; want 10.42.1.0/24", got, err)
	}
	if _, err := s.allocate(); err != errExhausted {
		t.Fatalf("want exhausted, got %v", err)
	}
	if err := s.release(mustCIDR(t, "10.42.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if s.isUsed(mustCIDR(t, "10.42.0.0/24")) || !s.isUsed(mustCIDR(t, "10.42.1.0/24")) {
		t.Fatal("isUsed disagrees with what was released and taken")
	}
	got, err = s.allocate()
	if err != nil || got.String() != "10.42.0.0/24" {
		t.Fatalf("allocate after release = %v, %v; want 10.42.0.0/24", got, err)
	}
}

func TestSubnetsRefuseForeignCIDRs(t *testing.T) {
	s, err := newSubnets(mustCIDR(t, "10.42.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"10.43.0.0/24", "fd00::/64", "192.168.0.0/16"} {
		if err := s.occupy(mustCIDR(t, bad)); err == nil {
			t.Errorf("occupy(%s) succeeded", bad)
		}
	}
	// A range holding the whole cluster CIDR takes all of it.
	if err := s.occupy(mustCIDR(t, "10.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.allocate(); err != errExhausted {
		t.Fatalf("want exhausted, got %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name     string
		clusters []string
		ok       bool
	}{
		{"default", []string{"10.42.0.0/16"}, true},
		{"dual stack", []string{"10.42.0.0/16", "fd00:42::/56"}, true},
		{"smaller than a node subnet", []string{"10.42.0.0/25"}, false},
		{"too many subnets", []string{"10.0.0.0/7"}, false},
		{"two of one family", []string{"10.42.0.0/16", "10.44.0.0/16"}, false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			for _, c := range tt.clusters {
				cfg.ClusterCIDRs = append(cfg.ClusterCIDRs, mustCIDR(t, c))
			}
			if err := cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestConfigKeepsServiceRangeOut(t *testing.T) {
	cfg := Config{ClusterCIDRs: []*net.IPNet{mustCIDR(t, "10.42.0.0/23")}, ServiceCIDRs: []*net.IPNet{mustCIDR(t, "10.42.0.0/24"), mustCIDR(t, "fd00::/108")}}
	ranges, err := cfg.ranges()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ranges[0].allocate()
	if err != nil || got.String() != "10.42.1.0/24" {
		t.Fatalf("allocate = %v, %v; want 10.42.1.0/24", got, err)
	}
}
