package dnsconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func writeResolvConf(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestForPod(t *testing.T) {
	hostConf := "# host\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example.com. lab.example.com\noptions timeout:2 attempts:3\n"
	loopbackConf := "nameserver 127.0.0.53\nsearch home\noptions edns0 trust-ad\n"
	mixedConf := "nameserver 127.0.0.1\nnameserver 9.9.9.9\n"
	cluster := Cluster{DNS: []string{"10.43.0.10"}, Domain: "cluster.local"}

	tests := []struct {
		name         string
		resolvConf   *string
		noClusterDNS bool
		spec         v1.PodSpec
		want         [3][]string // servers, searches, options
		wantWarn     []string    // reasons
	}{
		{
			name: "cluster first",
			spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirst},
			want: [3][]string{{"10.43.0.10"}, {"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example.com", "lab.example.com"}, {"ndots:5"}},
		},
		{
			name: "empty policy means cluster first",
			spec: v1.PodSpec{},
			want: [3][]string{{"10.43.0.10"}, {"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example.com", "lab.example.com"}, {"ndots:5"}},
		},
		{
			name: "cluster first on host network uses the host",
			spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirst, HostNetwork: true},
			want: [3][]string{{"192.168.1.1", "192.168.1.2"}, {"corp.example.com", "lab.example.com"}, {"timeout:2", "attempts:3"}},
		},
		{
			name: "cluster first with host net",
			spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirstWithHostNet, HostNetwork: true},
			want: [3][]string{{"10.43.0.10"}, {"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example.com", "lab.example.com"}, {"ndots:5"}},
		},
		{
			name: "default",
			spec: v1.PodSpec{DNSPolicy: v1.DNSDefault},
			want: [3][]string{{"192.168.1.1", "192.168.1.2"}, {"corp.example.com", "lab.example.com"}, {"timeout:2", "attempts:3"}},
		},
		{
			name:       "default with only loopback host servers falls back to cluster DNS",
			resolvConf: &loopbackConf,
			spec:       v1.PodSpec{DNSPolicy: v1.DNSDefault},
			want:       [3][]string{{"10.43.0.10"}, {"home"}, {"edns0", "trust-ad"}},
			wantWarn:   []string{"DNSConfigForming"},
		},
		{
			name:       "default drops loopback but keeps others",
			resolvConf: &mixedConf,
			spec:       v1.PodSpec{DNSPolicy: v1.DNSDefault},
			want:       [3][]string{{"9.9.9.9"}, nil, nil},
			wantWarn:   []string{"DNSConfigForming"},
		},
		{
			name:       "host network keeps loopback servers",
			resolvConf: &loopbackConf,
			spec:       v1.PodSpec{DNSPolicy: v1.DNSDefault, HostNetwork: true},
			want:       [3][]string{{"127.0.0.53"}, {"home"}, {"edns0", "trust-ad"}},
		},
		{
			name:         "loopback only and no cluster DNS leaves no server",
			resolvConf:   &loopbackConf,
			noClusterDNS: true,
			spec:         v1.PodSpec{DNSPolicy: v1.DNSDefault},
			want:         [3][]string{{}, {"home"}, {"edns0", "trust-ad"}},
			wantWarn:     []string{"DNSConfigForming"},
		},
		{
			name:         "no cluster DNS falls back to the host",
			noClusterDNS: true,
			spec:         v1.PodSpec{DNSPolicy: v1.DNSClusterFirst},
			want:         [3][]string{{"192.168.1.1", "192.168.1.2"}, {"corp.example.com", "lab.example.com"}, {"timeout:2", "attempts:3"}},
			wantWarn:     []string{"MissingClusterDNS"},
		},
		{
			name:       "no host resolv.conf, host network",
			resolvConf: ptr.To(""),
			spec:       v1.PodSpec{DNSPolicy: v1.DNSDefault, HostNetwork: true},
			want:       [3][]string{{"127.0.0.1"}, {"."}, nil},
		},
		{
			name: "none with dnsConfig",
			spec: v1.PodSpec{DNSPolicy: v1.DNSNone, DNSConfig: &v1.PodDNSConfig{
				Nameservers: []string{"1.1.1.1", "1.1.1.1"},
				Searches:    []string{"a.example"},
				Options:     []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "rotate"}},
			}},
			want: [3][]string{{"1.1.1.1"}, {"a.example"}, {"ndots:2", "rotate"}},
		},
		{
			name: "cluster first merged with dnsConfig",
			spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirst, DNSConfig: &v1.PodDNSConfig{
				Nameservers: []string{"10.43.0.10", "8.8.8.8"},
				Searches:    []string{"cluster.local", "extra.example"},
				Options:     []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}, {Name: "edns0"}},
			}},
			want: [3][]string{{"10.43.0.10", "8.8.8.8"},
				{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example.com", "lab.example.com", "extra.example"},
				{"ndots:1", "edns0"}},
		},
		{
			name:     "too many nameservers",
			spec:     v1.PodSpec{DNSPolicy: v1.DNSNone, DNSConfig: &v1.PodDNSConfig{Nameservers: []string{"1.0.0.1", "1.0.0.2", "1.0.0.3", "1.0.0.4"}}},
			want:     [3][]string{{"1.0.0.1", "1.0.0.2", "1.0.0.3"}, nil, nil},
			wantWarn: []string{"DNSConfigForming"},
		},
		{
			name:     "invalid policy falls back to cluster first",
			spec:     v1.PodSpec{DNSPolicy: "Bogus"},
			want:     [3][]string{{"10.43.0.10"}, {"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example.com", "lab.example.com"}, {"ndots:5"}},
			wantWarn: []string{"DNSConfigForming"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster
			if tt.noClusterDNS {
				c.DNS = nil
			}
			conf := hostConf
			if tt.resolvConf != nil {
				conf = *tt.resolvConf
			}
			if conf != "" {
				c.HostResolvConf = writeResolvConf(t, conf)
			}
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"}, Spec: tt.spec}
			got, warnings, err := ForPodWithWarnings(pod, c)
			if err != nil {
				t.Fatal(err)
			}
			for i, gotList := range [][]string{got.Servers, got.Searches, got.Options} {
				if len(gotList) == 0 && len(tt.want[i]) == 0 {
					continue
				}
				if !reflect.DeepEqual(gotList, tt.want[i]) {
					t.Errorf("%s = %q, want %q", []string{"servers", "searches", "options"}[i], gotList, tt.want[i])
				}
			}
			var reasons []string
			for _, w := range warnings {
				reasons = append(reasons, w.Reason)
			}
			if !reflect.DeepEqual(reasons, tt.wantWarn) {
				t.Errorf("warnings = %v, want reasons %v", warnings, tt.wantWarn)
			}
		})
	}
}

func TestForPodMissingResolvConf(t *testing.T) {
	c := Cluster{DNS: []string{"10.43.0.10"}, Domain: "cluster.local", HostResolvConf: filepath.Join(t.TempDir(), "nope")}
	if _, err := ForPod(&v1.Pod{}, c); err == nil || !strings.Contains(err.Error(), "could not open resolv conf file") {
		t.Fatalf("error = %v", err)
	}
}

func TestSearchLimits(t *testing.T) {
	long := strings.Repeat("a", 254)
	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprintf("s%d.example", i))
	}
	var wide []string
	for i := range 30 {
		wide = append(wide, fmt.Sprintf("%02d.%s", i, strings.Repeat("w", 90)))
	}
	tests := []struct {
		name    string
		in      []string
		wantLen int
		wantCut bool
	}{
		{name: "fits", in: []string{"a", "b"}, wantLen: 2},
		{name: "too many", in: many, wantLen: 32, wantCut: true},
		{name: "entry too long", in: []string{"ok", long}, wantLen: 1, wantCut: true},
		{name: "line too long", in: wide, wantLen: 21, wantCut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cut := fitSearches(append([]string(nil), tt.in...))
			if len(got) != tt.wantLen || cut != tt.wantCut {
				t.Fatalf("got %d entries (cut %v), want %d (cut %v)", len(got), cut, tt.wantLen, tt.wantCut)
			}
			if l := len(strings.Join(got, " ")); l > maxSearchLineLen {
				t.Errorf("search line is %d characters", l)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	got := parseResolvConf([]byte("nameserver 1.1.1.1\nsearch a b\n; comment\nsearch c. .\nnameserver\noptions ndots:2 timeout:1\noptions ndots:3\nnameserver 2.2.2.2\n"))
	want := hostResolver{nameservers: []string{"1.1.1.1", "2.2.2.2"}, searches: []string{"c"}, options: []string{"ndots:3", "timeout:1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestPodHostname(t *testing.T) {
	long := strings.Repeat("x", 62) + "-abc"
	tests := []struct {
		name       string
		pod        v1.Pod
		wantHost   string
		wantDomain string
		wantErr    string
	}{
		{name: "pod name", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns"}}, wantHost: "web-0"},
		{name: "hostname and subdomain", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: v1.PodSpec{Hostname: "h", Subdomain: "sub"}},
			wantHost: "h", wantDomain: "sub.ns.svc.cluster.local"},
		{name: "override", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1.PodSpec{HostnameOverride: ptr.To("my.host"), Subdomain: "sub"}}, wantHost: "my.host"},
		{name: "truncated", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: long}}, wantHost: strings.Repeat("x", 62)},
		{name: "bad hostname", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1.PodSpec{Hostname: "Bad_Name"}}, wantErr: `pod Hostname "Bad_Name" is not a valid DNS label`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, d, err := PodHostname(&tt.pod, "cluster.local")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || h != tt.wantHost || d != tt.wantDomain {
				t.Errorf("got %q, %q, %v; want %q, %q", h, d, err, tt.wantHost, tt.wantDomain)
			}
		})
	}
}
