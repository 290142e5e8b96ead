package dns

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadUpstreams(t *testing.T) {
	tests := []struct {
		name         string
		conf         string
		keepLoopback bool
		self         []netip.AddrPort
		want         []string
	}{
		{"loopback stub skipped", "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n", false, nil, nil},
		{"order kept", "# comment\nnameserver 192.0.2.53\nnameserver 127.0.0.1\nnameserver 2001:db8::53\nnameserver ::1\n", false, nil,
			[]string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{"loopback kept on request", "nameserver 127.0.0.1\n", true, nil, []string{"127.0.0.1:53"}},
		{"own address skipped", "nameserver 10.43.0.10\nnameserver 192.0.2.53\n", false,
			[]netip.AddrPort{netip.MustParseAddrPort("10.43.0.10:53")}, []string{"192.0.2.53:53"}},
		{"hostnames ignored", "nameserver dns.example.org\nnameserver 192.0.2.53\n", false, nil, []string{"192.0.2.53:53"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readUpstreams(path, 53, tt.keepLoopback, tt.self)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("upstreams = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := readUpstreams(filepath.Join(t.TempDir(), "missing"), 53, false, nil); err == nil {
		t.Error("missing resolv.conf: no error")
	}
}
