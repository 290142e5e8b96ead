package datastore

import (
	"encoding/json"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Raft timing. A lone voter has nobody to wait for, yet etcd still lets a
// randomised election timeout (up to the full timeout after its
// fast-forward) pass before electing itself, and nothing is served until
// then. With etcd's defaults that is anywhere from 0.1 s to 1 s of start
// time, so a single-voter member runs with a short timeout and a cluster
// with peers keeps etcd's defaults, which tolerate network and disk stalls.
//
// The choice is made at each start: a member that gains peers keeps the
// short timings until its next restart. That is safe because pre-vote stops
// an impatient follower from disrupting a healthy leader.
type raftTiming struct {
	tickMs, electionMs uint
}

var (
	soloTiming    = raftTiming{tickMs: 10, electionMs: 100}
	clusterTiming = raftTiming{tickMs: 100, electionMs: 1000}
)

// chooseTiming picks the timing for a member in dir. A member without data
// is bootstrapping a new single-member cluster. A restarting member counts
// the voters recorded in its backend; if that cannot be read, the safe
// cluster timing is used and etcd itself reports any real problem.
func chooseTiming(dir string) raftTiming {
	if !hasMemberData(dir) {
		return soloTiming
	}
	voters, err := countVoters(filepath.Join(dir, "member", "snap", "db"))
	if err != nil || voters != 1 {
		return clusterTiming
	}
	return soloTiming
}

// countVoters reads etcd's membership bucket without starting etcd. The
// backend lags the WAL by at most one commit interval, so a member added
// just before a crash may be missed; the cost is only a short timeout.
func countVoters(dbPath string) (int, error) {
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	voters := 0
	err = db.View(func(tx *bolt.Tx) error {
		members := tx.Bucket([]byte("members"))
		if members == nil {
			return nil
		}
		return members.ForEach(func(_, v []byte) error {
			var m struct {
				IsLearner bool `json:"isLearner"`
			}
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			if !m.IsLearner {
				voters++
			}
			return nil
		})
	})
	return voters, err
}
