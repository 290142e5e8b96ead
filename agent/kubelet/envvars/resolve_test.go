package envvars

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// fakeSources serves fixed objects; it is test input, not the code under test.
type fakeSources struct {
	configMaps  map[string]*v1.ConfigMap
	secrets     map[string]*v1.Secret
	services    []*v1.Service
	servicesErr error
	gets        int
}

func (f *fakeSources) ConfigMap(_ context.Context, ns, name string) (*v1.ConfigMap, error) {
	f.gets++
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(v1.Resource("configmap"), name)
}

func (f *fakeSources) Secret(_ context.Context, ns, name string) (*v1.Secret, error) {
	f.gets++
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(v1.Resource("secret"), name)
}

func (f *fakeSources) Services(_ context.Context, ns string) ([]*v1.Service, error) {
	if f.servicesErr != nil {
		return nil, f.servicesErr
	}
	var out []*v1.Service
	for _, s := range f.services {
		if s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func service(ns, name, ip string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
}

func sources() *fakeSources {
	return &fakeSources{
		configMaps: map[string]*v1.ConfigMap{
			"shop/settings": {Data: map[string]string{"mode": "prod", "level": "3", "bad=key": "x"}},
			"shop/more":     {Data: map[string]string{"mode": "dev"}},
		},
		secrets: map[string]*v1.Secret{
			"shop/creds": {Data: map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cr3t")}},
		},
		services: []*v1.Service{
			service("default", "kubernetes", "10.43.0.1", v1.ServicePort{Name: "https", Port: 443, Protocol: v1.ProtocolTCP}),
			service("default", "other", "10.43.0.50", v1.ServicePort{Port: 80}),
			service("shop", "redis-main", "10.43.0.20", v1.ServicePort{Port: 6379, Protocol: v1.ProtocolTCP}),
			service("shop", "headless", v1.ClusterIPNone, v1.ServicePort{Port: 80}),
			service("shop", "dns", "10.43.0.30",
				v1.ServicePort{Name: "dns-udp", Port: 53, Protocol: v1.ProtocolUDP},
				v1.ServicePort{Name: "metrics", Port: 9153, Protocol: v1.ProtocolTCP}),
			service("elsewhere", "db", "10.43.0.40", v1.ServicePort{Port: 5432}),
		},
	}
}

func envMap(t *testing.T, kvs []*runtimeapi.KeyValue) map[string]string {
	t.Helper()
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if _, dup := m[kv.Key]; dup {
			t.Errorf("variable %s appears twice", kv.Key)
		}
		m[kv.Key] = string(kv.Value)
	}
	return m
}

func TestResolve(t *testing.T) {
	noLinks := func(p *v1.Pod) { p.Spec.EnableServiceLinks = ptr.To(false) }
	tests := []struct {
		name     string
		podMod   func(*v1.Pod)
		c        v1.Container
		want     map[string]string // variables that must have these values
		absent   []string          // variables that must not be set
		wantErr  string
		notFound bool
	}{
		{
			name: "literal and expansion",
			c: v1.Container{Env: []v1.EnvVar{
				{Name: "A", Value: "x"},
				{Name: "B", Value: "$(A)-$(LATER)-$$(A)-$(REDIS_MAIN_SERVICE_HOST)"},
				{Name: "LATER", Value: "y"},
				{Name: "EMPTY"},
			}},
			want: map[string]string{"A": "x", "B": "x-$(LATER)-$(A)-10.43.0.20", "LATER": "y", "EMPTY": ""},
		},
		{
			name: "service links",
			want: map[string]string{
				"KUBERNETES_SERVICE_HOST":       "10.43.0.1",
				"KUBERNETES_SERVICE_PORT":       "443",
				"KUBERNETES_SERVICE_PORT_HTTPS": "443",
				"KUBERNETES_PORT":               "tcp://10.43.0.1:443",
				"KUBERNETES_PORT_443_TCP":       "tcp://10.43.0.1:443",
				"KUBERNETES_PORT_443_TCP_PROTO": "tcp",
				"KUBERNETES_PORT_443_TCP_PORT":  "443",
				"KUBERNETES_PORT_443_TCP_ADDR":  "10.43.0.1",
				"REDIS_MAIN_SERVICE_HOST":       "10.43.0.20",
				"REDIS_MAIN_PORT":               "tcp://10.43.0.20:6379",
				"DNS_SERVICE_PORT":              "53",
				"DNS_SERVICE_PORT_DNS_UDP":      "53",
				"DNS_SERVICE_PORT_METRICS":      "9153",
				"DNS_PORT":                      "udp://10.43.0.30:53",
				"DNS_PORT_53_UDP_PROTO":         "udp",
				"DNS_PORT_9153_TCP":             "tcp://10.43.0.30:9153",
				"DNS_PORT_9153_TCP_ADDR":        "10.43.0.30",
			},
			absent: []string{"HEADLESS_SERVICE_HOST", "DB_SERVICE_HOST", "OTHER_SERVICE_HOST"},
		},
		{
			name:   "service links disabled keep the master service",
			podMod: noLinks,
			want:   map[string]string{"KUBERNETES_SERVICE_HOST": "10.43.0.1"},
			absent: []string{"REDIS_MAIN_SERVICE_HOST", "DNS_SERVICE_HOST"},
		},
		{
			name: "declared variables win over service variables",
			c:    v1.Container{Env: []v1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "override"}}},
			want: map[string]string{"KUBERNETES_SERVICE_HOST": "override"},
		},
		{
			name: "envFrom with prefix, later source and env win, invalid keys skipped",
			c: v1.Container{
				EnvFrom: []v1.EnvFromSource{
					{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "settings"}}},
					{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "more"}}},
					{Prefix: "DB_", SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "creds"}}},
					{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}},
				},
				Env: []v1.EnvVar{{Name: "level", Value: "$(level)0"}},
			},
			want:   map[string]string{"mode": "dev", "level": "30", "DB_user": "admin", "DB_pass": "s3cr3t"},
			absent: []string{"bad=key"},
		},
		{
			name: "envFrom missing configmap",
			c: v1.Container{EnvFrom: []v1.EnvFromSource{
				{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}}},
			}},
			wantErr: `configmap "gone" not found`, notFound: true,
		},
		{
			name: "envFrom missing secret",
			c: v1.Container{EnvFrom: []v1.EnvFromSource{
				{SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}}},
			}},
			wantErr: `secret "gone" not found`, notFound: true,
		},
		{
			name: "key refs",
			c: v1.Container{Env: []v1.EnvVar{
				{Name: "MODE", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "settings"}, Key: "mode"}}},
				{Name: "PASS", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "creds"}, Key: "pass"}}},
				{Name: "OPT_KEY", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "settings"}, Key: "nope", Optional: ptr.To(true)}}},
				{Name: "OPT_OBJ", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}, Key: "k", Optional: ptr.To(true)}}},
			}},
			want:   map[string]string{"MODE": "prod", "PASS": "s3cr3t"},
			absent: []string{"OPT_KEY", "OPT_OBJ"},
		},
		{
			name: "missing configmap key",
			c: v1.Container{Env: []v1.EnvVar{
				{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "settings"}, Key: "k"}}},
			}},
			wantErr: "couldn't find key k in ConfigMap shop/settings",
		},
		{
			name: "missing secret key",
			c: v1.Container{Env: []v1.EnvVar{
				{Name: "X", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
			}},
			wantErr: "couldn't find key token in Secret shop/creds",
		},
		{
			name: "missing secret",
			c: v1.Container{Env: []v1.EnvVar{
				{Name: "X", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}, Key: "k"}}},
			}},
			wantErr: `secret "gone" not found`, notFound: true,
		},
		{
			name: "field and resource refs",
			c: v1.Container{
				Name:      "app",
				Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("256Mi")}},
				Env: []v1.EnvVar{
					{Name: "POD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "NODE", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
					{Name: "MEM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
					{Name: "CPU", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu"}}},
					{Name: "URL", Value: "http://$(IP):80/$(POD)"},
				},
			},
			want: map[string]string{"POD": "web-0", "IP": "10.42.0.7", "NODE": "node-a", "MEM": "256", "CPU": "4", "URL": "http://10.42.0.7:80/web-0"},
		},
		{
			name: "bad field path",
			c: v1.Container{Env: []v1.EnvVar{
				{Name: "X", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.bogus"}}},
			}},
			wantErr: "unsupported fieldPath: spec.bogus",
		},
		{
			name: "fileKeyRef without volume paths",
			c: v1.Container{Env: []v1.EnvVar{
				{Name: "X", ValueFrom: &v1.EnvVarSource{FileKeyRef: &v1.FileKeySelector{VolumeName: "cfg", Path: "env", Key: "X"}}},
			}},
			wantErr: `cannot find the volume "cfg" referenced by FileKeyRef`,
		},
	}
	alloc := v1.ResourceList{v1.ResourceCPU: resource.MustParse("4")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod()
			if tt.podMod != nil {
				tt.podMod(pod)
			}
			c := tt.c
			got, err := Resolve(context.Background(), pod, &c, sources(), alloc)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if tt.notFound != apierrors.IsNotFound(err) {
					t.Errorf("IsNotFound(%v) = %v, want %v", err, !tt.notFound, tt.notFound)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := envMap(t, got)
			for k, v := range tt.want {
				if gotV, ok := m[k]; !ok || gotV != v {
					t.Errorf("%s = %q (set %v), want %q", k, gotV, ok, v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := m[k]; ok {
					t.Errorf("%s is set, want absent", k)
				}
			}
		})
	}
}

func TestResolveOrderIsDeclarationThenServices(t *testing.T) {
	c := &v1.Container{Env: []v1.EnvVar{{Name: "Z", Value: "1"}, {Name: "A", Value: "2"}, {Name: "Z", Value: "3"}}}
	src := sources()
	src.services = src.services[:1]
	got, err := Resolve(context.Background(), testPod(), c, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range got[:2] {
		keys = append(keys, kv.Key+"="+string(kv.Value))
	}
	if !reflect.DeepEqual(keys, []string{"Z=3", "A=2"}) {
		t.Errorf("declared order = %v", keys)
	}
	if got[2].Key != "KUBERNETES_SERVICE_HOST" {
		t.Errorf("first service variable = %s, want the service variables after the declared ones", got[2].Key)
	}
}

func TestResolveFetchesEachObjectOnce(t *testing.T) {
	ref := v1.LocalObjectReference{Name: "settings"}
	c := &v1.Container{
		EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: ref}}},
		Env: []v1.EnvVar{
			{Name: "A", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: ref, Key: "mode"}}},
			{Name: "B", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: ref, Key: "level"}}},
		},
	}
	src := sources()
	if _, err := Resolve(context.Background(), testPod(), c, src, nil); err != nil {
		t.Fatal(err)
	}
	if src.gets != 1 {
		t.Errorf("configmap fetched %d times, want 1", src.gets)
	}
}

func TestResolveServiceListError(t *testing.T) {
	src := sources()
	src.servicesErr = errors.New("boom")
	_, err := Resolve(context.Background(), testPod(), &v1.Container{}, src, nil)
	if err == nil || !strings.Contains(err.Error(), "failed to list services when setting up env vars: boom") {
		t.Fatalf("error = %v", err)
	}
}

func TestResolveFileKeyRef(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol")
	if err := os.MkdirAll(filepath.Join(vol, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "sub", "app.env"), []byte("# generated\nTOKEN='abc def'\nEMPTY=''\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "outside.env"), []byte("TOKEN='leak'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside.env", filepath.Join(vol, "escape.env")); err != nil {
		t.Fatal(err)
	}
	volumes := func(name string) (string, bool) { return vol, name == "cfg" }
	ref := func(path, key string, optional bool) v1.EnvVar {
		return v1.EnvVar{Name: "V", ValueFrom: &v1.EnvVarSource{FileKeyRef: &v1.FileKeySelector{VolumeName: "cfg", Path: path, Key: key, Optional: ptr.To(optional)}}}
	}
	tests := []struct {
		name    string
		env     v1.EnvVar
		want    string
		absent  bool
		wantErr string
	}{
		{name: "value", env: ref("sub/app.env", "TOKEN", false), want: "abc def"},
		{name: "missing optional key", env: ref("sub/app.env", "NOPE", true), absent: true},
		{name: "empty value counts as missing", env: ref("sub/app.env", "EMPTY", false), wantErr: `environment variable key "EMPTY" not found`},
		{name: "symlink out of the volume", env: ref("escape.env", "TOKEN", false), wantErr: "points outside its volume"},
		{name: "missing file", env: ref("nope.env", "TOKEN", false), wantErr: "nope.env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &v1.Container{Env: []v1.EnvVar{tt.env}}
			got, err := ResolveWithVolumes(context.Background(), testPod(), c, sources(), nil, volumes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, ok := envMap(t, got)["V"]
			if tt.absent {
				if ok {
					t.Errorf("V = %q, want absent", v)
				}
				return
			}
			if v != tt.want {
				t.Errorf("V = %q, want %q", v, tt.want)
			}
		})
	}
}
