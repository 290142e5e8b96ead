package datastore

import (
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// writeMembers creates a backend with the given members bucket entries, as
// etcd stores them (member ID -> JSON).
func writeMembers(t *testing.T, dir string, members map[string]string) {
	t.Helper()
	snap := filepath.Join(dir, "member", "snap")
	if err := os.MkdirAll(snap, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "member", "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(snap, "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("members"))
		if err != nil {
			return err
		}
		for k, v := range members {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestChooseTiming(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  raftTiming
	}{
		{"new member", func(*testing.T, string) {}, soloTiming},
		{"one voter", func(t *testing.T, dir string) {
			writeMembers(t, dir, map[string]string{"a": `{"id":1,"name":"a"}`})
		}, soloTiming},
		{"one voter and a learner", func(t *testing.T, dir string) {
			writeMembers(t, dir, map[string]string{"a": `{"name":"a"}`, "b": `{"name":"b","isLearner":true}`})
		}, soloTiming},
		{"three voters", func(t *testing.T, dir string) {
			writeMembers(t, dir, map[string]string{"a": `{}`, "b": `{}`, "c": `{}`})
		}, clusterTiming},
		{"wal without backend", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "member", "wal"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, clusterTiming},
		{"corrupt member entry", func(t *testing.T, dir string) {
			writeMembers(t, dir, map[string]string{"a": `not json`})
		}, clusterTiming},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			if got := chooseTiming(dir); got != tt.want {
				t.Fatalf("timing %+v, want %+v", got, tt.want)
			}
		})
	}
}
