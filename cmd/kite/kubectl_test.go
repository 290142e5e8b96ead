package main

import (
	"path/filepath"
	"testing"
)

func TestKubeconfigFor(t *testing.T) {
	const home = "/home/u"
	userConfig := filepath.Join(home, ".kube", "config")
	type state struct{ exists, readable bool }
	tests := []struct {
		name       string
		kubeconfig string // $KUBECONFIG
		files      map[string]state
		want       string
	}{
		{
			name:       "KUBECONFIG wins",
			kubeconfig: "/tmp/k",
			files:      map[string]state{adminKubeconfig: {true, true}},
			want:       "",
		},
		{
			name:  "admin kubeconfig",
			files: map[string]state{adminKubeconfig: {true, true}, userConfig: {true, true}},
			want:  adminKubeconfig,
		},
		{
			name:  "no admin kubeconfig: kubectl default",
			files: map[string]state{userConfig: {true, true}},
			want:  "",
		},
		{
			name:  "unreadable admin kubeconfig, user has their own",
			files: map[string]state{adminKubeconfig: {true, false}, userConfig: {true, true}},
			want:  "",
		},
		{
			name:  "unreadable admin kubeconfig and nothing else: let kubectl say why",
			files: map[string]state{adminKubeconfig: {true, false}},
			want:  adminKubeconfig,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "KUBECONFIG" {
					return tt.kubeconfig
				}
				return ""
			}
			stat := func(p string) (bool, bool) { s := tt.files[p]; return s.exists, s.readable }
			if got := kubeconfigFor(getenv, stat, home); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
