package auth

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteKubeconfig(t *testing.T) {
	p := mustEnsure(t, testOptions(t.TempDir()))
	tests := []struct {
		name     string
		mode     os.FileMode
		existing bool // a file with another mode is already there
	}{
		{"private", 0o600, false},
		{"world readable", 0o644, false},
		{"overwrite tightens mode", 0o600, true},
		{"overwrite loosens mode", 0o644, true},
	}
	// A restrictive umask must not change the result either way.
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "etc", "kite", "kite.yaml")
			if tt.existing {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte("old"), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			const server = "https://127.0.0.1:6443"
			if err := WriteKubeconfig(path, tt.mode, server, p); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tt.mode {
				t.Fatalf("mode %v, want %v", st.Mode().Perm(), tt.mode)
			}
			dirSt, err := os.Stat(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.existing && dirSt.Mode().Perm() != 0o755 {
				t.Errorf("parent dir mode %v, want 0755 despite umask 077", dirSt.Mode().Perm())
			}
			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("temporary files left behind: %v", entries)
			}

			cfg, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatalf("clientcmd cannot load the kubeconfig: %v", err)
			}
			if cfg.CurrentContext != "default" {
				t.Errorf("current context %q", cfg.CurrentContext)
			}
			rest, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
			if err != nil {
				t.Fatalf("build rest config: %v", err)
			}
			if rest.Host != server {
				t.Errorf("host %q, want %q", rest.Host, server)
			}
			if len(rest.CAData) == 0 || len(rest.CertData) == 0 || len(rest.KeyData) == 0 {
				t.Fatal("credentials are not embedded")
			}
			cert, err := parseCertPEM(rest.CertData)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != "system:admin" || !sameStrings(cert.Subject.Organization, []string{"system:masters"}) {
				t.Errorf("admin cert subject %v", cert.Subject)
			}
		})
	}
}
