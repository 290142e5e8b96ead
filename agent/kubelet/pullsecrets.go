package kubelet

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// dockerConfigEntry is one registry's credentials in a docker config file.
type dockerConfigEntry struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// registryCredential is a credential and the registry (and optional path
// prefix) it applies to.
type registryCredential struct {
	match string // host[/path], normalised
	auth  *runtimeapi.AuthConfig
}

// credentialsFromSecrets reads kubernetes.io/dockerconfigjson and
// kubernetes.io/dockercfg secrets into credentials; other types are skipped.
func credentialsFromSecrets(secrets []*v1.Secret) ([]registryCredential, error) {
	var out []registryCredential
	for _, s := range secrets {
		var entries map[string]dockerConfigEntry
		switch s.Type {
		case v1.SecretTypeDockerConfigJson:
			var cfg struct {
				Auths map[string]dockerConfigEntry `json:"auths"`
			}
			if err := json.Unmarshal(s.Data[v1.DockerConfigJsonKey], &cfg); err != nil {
				return nil, fmt.Errorf("parse %s of secret %s/%s: %w", v1.DockerConfigJsonKey, s.Namespace, s.Name, err)
			}
			entries = cfg.Auths
		case v1.SecretTypeDockercfg:
			if err := json.Unmarshal(s.Data[v1.DockerConfigKey], &entries); err != nil {
				return nil, fmt.Errorf("parse %s of secret %s/%s: %w", v1.DockerConfigKey, s.Namespace, s.Name, err)
			}
		default:
			continue
		}
		keys := make([]string, 0, len(entries))
		for k := range entries {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			auth, err := authConfig(entries[k])
			if err != nil {
				return nil, fmt.Errorf("credentials for %q in secret %s/%s: %w", k, s.Namespace, s.Name, err)
			}
			out = append(out, registryCredential{match: normaliseRegistryKey(k), auth: auth})
		}
	}
	return out, nil
}

func authConfig(e dockerConfigEntry) (*runtimeapi.AuthConfig, error) {
	a := &runtimeapi.AuthConfig{
		Username:      e.Username,
		Password:      e.Password,
		IdentityToken: e.IdentityToken,
		RegistryToken: e.RegistryToken,
	}
	if e.Auth != "" && a.Username == "" {
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return nil, fmt.Errorf("decode auth: %w", err)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("auth is not user:password")
		}
		a.Username, a.Password = user, pass
	}
	return a, nil
}

// normaliseRegistryKey turns a docker config key ("https://index.docker.io/v1/",
// "registry.local:5000", "ghcr.io/org") into host[/path] with Docker Hub's
// aliases folded into docker.io.
func normaliseRegistryKey(key string) string {
	key = strings.TrimPrefix(key, "https://")
	key = strings.TrimPrefix(key, "http://")
	key = strings.TrimSuffix(key, "/")
	host, path, _ := strings.Cut(key, "/")
	host = canonicalRegistryHost(host)
	if host == "docker.io" && (path == "v1" || path == "v2") {
		path = ""
	}
	if path == "" {
		return host
	}
	return host + "/" + path
}

func canonicalRegistryHost(host string) string {
	switch host {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return host
}

// matchingCredentials lists the credentials that apply to image, the most
// specific (longest match) first.
func matchingCredentials(creds []registryCredential, image string) []*runtimeapi.AuthConfig {
	r := parseImageRef(image)
	full := canonicalRegistryHost(r.Host) + "/" + r.Path
	var matched []registryCredential
	for _, c := range creds {
		if full == c.match || strings.HasPrefix(full, c.match+"/") {
			matched = append(matched, c)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool { return len(matched[i].match) > len(matched[j].match) })
	out := make([]*runtimeapi.AuthConfig, len(matched))
	for i, c := range matched {
		out[i] = c.auth
	}
	return out
}
