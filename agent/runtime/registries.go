package runtime

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"
)

// Registries is registries.yaml in k3s's format: mirror endpoints per
// registry, and credentials and TLS settings per registry host.
//
//	mirrors:
//	  docker.io:
//	    endpoint: ["https://mirror.example.com:5000"]
//	configs:
//	  "mirror.example.com:5000":
//	    auth: {username: u, password: p}
//	    tls: {ca_file: /etc/ssl/mirror-ca.pem}
type Registries struct {
	// Mirrors are keyed by the registry an image names (docker.io,
	// quay.io, 127.0.0.1:5000) or "*" for every registry.
	Mirrors map[string]Mirror `json:"mirrors,omitempty"`
	// Configs are keyed by the host (and port) of a registry or mirror
	// endpoint.
	Configs map[string]RegistryConfig `json:"configs,omitempty"`
}

// Mirror lists the endpoints tried, in order, before the registry itself.
type Mirror struct {
	Endpoints []string `json:"endpoint,omitempty"`
	// Rewrite maps repository regular expressions to replacements for pulls
	// through the mirror. Upstream containerd has no such setting, so kite
	// accepts and checks it but pulls from mirrors use the original path.
	Rewrite map[string]string `json:"rewrite,omitempty"`
}

// RegistryConfig holds what a registry host needs beyond its address.
type RegistryConfig struct {
	Auth *RegistryAuth `json:"auth,omitempty"`
	TLS  *RegistryTLS  `json:"tls,omitempty"`
}

// RegistryAuth is one set of credentials, in any of the forms a docker
// config.json carries.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"` // base64 of "username:password"
	IdentityToken string `json:"identity_token,omitempty"`
}

// RegistryTLS is the TLS client configuration for a registry host.
type RegistryTLS struct {
	CAFile             string `json:"ca_file,omitempty"`
	CertFile           string `json:"cert_file,omitempty"`
	KeyFile            string `json:"key_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// wildcardRegistry is the mirrors key that applies to every registry;
// containerd's hosts tree calls it _default.
const wildcardRegistry = "*"

// LoadRegistries reads and checks registries.yaml. A missing file is no
// mirrors and no credentials.
func LoadRegistries(path string) (*Registries, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Registries{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading registries file: %w", err)
	}
	r, err := ParseRegistries(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRegistries parses and checks registries.yaml content; unknown keys
// are errors, so a typo does not silently drop a mirror.
func ParseRegistries(data []byte) (*Registries, error) {
	var r Registries
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Registries) validate() error {
	for _, name := range sortedKeys(r.Mirrors) {
		if name != wildcardRegistry {
			if err := checkRegistryHost(name); err != nil {
				return fmt.Errorf("mirrors %q: %w", name, err)
			}
		}
		m := r.Mirrors[name]
		for i, endpoint := range m.Endpoints {
			if _, err := parseEndpoint(endpoint); err != nil {
				return fmt.Errorf("mirrors %q: endpoint[%d]: %w", name, i, err)
			}
		}
		for pattern := range m.Rewrite {
			if _, err := regexp.Compile(pattern); err != nil {
				return fmt.Errorf("mirrors %q: rewrite %q: %w", name, pattern, err)
			}
		}
	}
	for _, host := range sortedKeys(r.Configs) {
		if err := checkRegistryHost(configHost(host)); err != nil {
			return fmt.Errorf("configs %q: %w", host, err)
		}
		tls := r.Configs[host].TLS
		if tls == nil {
			continue
		}
		if (tls.CertFile == "") != (tls.KeyFile == "") {
			return fmt.Errorf("configs %q: tls: cert_file and key_file must be given together", host)
		}
		for _, file := range []string{tls.CAFile, tls.CertFile, tls.KeyFile} {
			if file == "" {
				continue
			}
			if _, err := os.Stat(file); err != nil {
				return fmt.Errorf("configs %q: tls: %w", host, err)
			}
		}
	}
	return nil
}

// HasRewrites reports whether any mirror asks for repository rewrites,
// which the embedded containerd cannot apply.
func (r *Registries) HasRewrites() bool {
	for _, m := range r.Mirrors {
		if len(m.Rewrite) > 0 {
			return true
		}
	}
	return false
}

// criAuths are the credentials per registry host in the form containerd's
// CRI plugin reads from its config. Docker Hub images are fetched from
// registry-1.docker.io, so credentials given for docker.io go there too.
func (r *Registries) criAuths() map[string]criAuth {
	auths := map[string]criAuth{}
	for key, cfg := range r.Configs {
		if cfg.Auth == nil {
			continue
		}
		a := criAuth{
			Username:      cfg.Auth.Username,
			Password:      cfg.Auth.Password,
			Auth:          cfg.Auth.Auth,
			IdentityToken: cfg.Auth.IdentityToken,
		}
		host := configHost(key)
		auths[host] = a
		if host == dockerHubName {
			if _, set := r.Configs[dockerHubHost]; !set {
				auths[dockerHubHost] = a
			}
		}
	}
	return auths
}

// AuthFor returns the registries.yaml credentials for the registry an image
// is pulled from, limited to that registry's address; nil when there are
// none or the reference does not parse.
func (r *Registries) AuthFor(image string) *runtimeapi.AuthConfig {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil
	}
	host := reference.Domain(named)
	cfg, ok := r.Configs[host]
	if !ok && host == dockerHubName {
		host = dockerHubHost
		cfg, ok = r.Configs[host]
	}
	if !ok || cfg.Auth == nil {
		return nil
	}
	if host == dockerHubName {
		host = dockerHubHost
	}
	return &runtimeapi.AuthConfig{
		Username:      cfg.Auth.Username,
		Password:      cfg.Auth.Password,
		Auth:          cfg.Auth.Auth,
		IdentityToken: cfg.Auth.IdentityToken,
		ServerAddress: "https://" + host,
	}
}

const (
	dockerHubName = "docker.io"            // how images name Docker Hub
	dockerHubHost = "registry-1.docker.io" // where containerd pulls them from
)

// configHost is the host[:port] a configs key names; k3s accepts keys
// written as URLs too.
func configHost(key string) string {
	if u, err := url.Parse(key); err == nil && u.Host != "" {
		return u.Host
	}
	return key
}

// checkRegistryHost accepts host or host:port, as image references name
// registries.
func checkRegistryHost(host string) error {
	if host == "" || strings.ContainsAny(host, "/ \t") || !isPrintableASCII(host) {
		return fmt.Errorf("not a registry host[:port]")
	}
	return nil
}

// parseEndpoint reads a mirror endpoint: an http(s) URL, or a bare host
// that means https.
func parseEndpoint(endpoint string) (*url.URL, error) {
	if !isPrintableASCII(endpoint) {
		return nil, fmt.Errorf("%q is not a URL", endpoint)
	}
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", endpoint)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", endpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: only scheme, host, port and path are allowed", endpoint)
	}
	return u, nil
}

func isPrintableASCII(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
