package kubelet

import (
	"encoding/base64"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestMatchingCredentials(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("bob:hunter2"))
	secrets := []*v1.Secret{
		{
			Type: v1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{v1.DockerConfigJsonKey: []byte(`{"auths": {
				"https://index.docker.io/v1/": {"username": "hub", "password": "p1"},
				"registry.local:5000": {"auth": "` + auth + `"},
				"ghcr.io/team": {"username": "team", "password": "p2"},
				"ghcr.io": {"username": "any", "password": "p3"}}}`)},
		},
		{
			Type: v1.SecretTypeDockercfg,
			Data: map[string][]byte{v1.DockerConfigKey: []byte(`{"quay.io": {"username": "q", "password": "p4"}}`)},
		},
		{Type: v1.SecretTypeOpaque, Data: map[string][]byte{"x": []byte("y")}},
	}
	creds, err := credentialsFromSecrets(secrets)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		image string
		users []string
	}{
		{"busybox:1.36", []string{"hub"}},
		{"docker.io/library/busybox", []string{"hub"}},
		{"registry.local:5000/app:1", []string{"bob"}},
		{"ghcr.io/team/app", []string{"team", "any"}},
		{"ghcr.io/teamster/app", []string{"any"}},
		{"quay.io/x/y", []string{"q"}},
		{"example.com/app", nil},
	}
	for _, tt := range tests {
		got := matchingCredentials(creds, tt.image)
		var users []string
		for _, a := range got {
			users = append(users, a.Username)
		}
		if len(users) != len(tt.users) {
			t.Errorf("%s: users %v, want %v", tt.image, users, tt.users)
			continue
		}
		for i := range users {
			if users[i] != tt.users[i] {
				t.Errorf("%s: users %v, want %v", tt.image, users, tt.users)
			}
		}
	}
	if got := matchingCredentials(creds, "registry.local:5000/app"); got[0].Password != "hunter2" {
		t.Errorf("auth field not decoded: %+v", got[0])
	}
}

func TestCredentialsFromSecretsRejectsBrokenConfig(t *testing.T) {
	_, err := credentialsFromSecrets([]*v1.Secret{{
		Type: v1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{v1.DockerConfigJsonKey: []byte(`{not json`)},
	}})
	if err == nil {
		t.Fatal("a broken .dockerconfigjson must be an error")
	}
}
