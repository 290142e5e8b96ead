package datastore

import (
	"errors"
	"fmt"
	"time"
)

// Config describes the embedded etcd member of this server.
type Config struct {
	// DataDir is <data-dir>/server/db; etcd's own files go to DataDir/etcd.
	DataDir string
	// Name is the etcd member name. Once the member has data, the name
	// stored beside it wins, so a renamed host keeps its member identity.
	// Empty means <hostname>-<random>.
	Name string

	ClientHost string // address clients dial, 127.0.0.1 by default
	ClientPort int    // 2379 by default
	PeerHost   string // address other members dial, 127.0.0.1 by default
	PeerPort   int    // 2380 by default

	// CAFile, CertFile and KeyFile are etcd's server TLS material (the PKI's
	// etcd/ directory), used on both the client and the peer listener.
	CAFile, CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile identify the API server to etcd.
	ClientCertFile, ClientKeyFile string

	// CompactInterval is how often old revisions are compacted away; one
	// interval of history is kept, as kube-apiserver does. 5m by default.
	CompactInterval time.Duration
	// ReadyTimeout bounds how long Start waits for the member to serve
	// (replaying a large WAL can take a while). 1m by default.
	ReadyTimeout time.Duration
}

const (
	defaultHost            = "127.0.0.1"
	defaultClientPort      = 2379
	defaultPeerPort        = 2380
	defaultCompactInterval = 5 * time.Minute
	defaultReadyTimeout    = time.Minute
)

// withDefaults fills unset fields with kite's defaults.
func (c Config) withDefaults() Config {
	if c.ClientHost == "" {
		c.ClientHost = defaultHost
	}
	if c.ClientPort == 0 {
		c.ClientPort = defaultClientPort
	}
	if c.PeerHost == "" {
		c.PeerHost = defaultHost
	}
	if c.PeerPort == 0 {
		c.PeerPort = defaultPeerPort
	}
	if c.CompactInterval == 0 {
		c.CompactInterval = defaultCompactInterval
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = defaultReadyTimeout
	}
	return c
}

// validate reports the first missing or impossible setting. TLS is not
// optional: etcd holds every Secret of the cluster.
func (c Config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data directory is not set"))
	}
	for _, f := range []struct{ name, value string }{
		{"CA file", c.CAFile}, {"server certificate", c.CertFile}, {"server key", c.KeyFile},
		{"client certificate", c.ClientCertFile}, {"client key", c.ClientKeyFile},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("etcd %s is not set", f.name))
		}
	}
	for _, p := range []struct {
		name string
		port int
	}{{"client", c.ClientPort}, {"peer", c.PeerPort}} {
		if p.port < 1 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("etcd %s port %d is out of range 1-65535", p.name, p.port))
		}
	}
	if c.ClientHost == c.PeerHost && c.ClientPort == c.PeerPort {
		errs = append(errs, fmt.Errorf("etcd client and peer both use %s:%d", c.ClientHost, c.ClientPort))
	}
	if c.CompactInterval < 0 {
		errs = append(errs, fmt.Errorf("compaction interval %s is negative", c.CompactInterval))
	}
	return errors.Join(errs...)
}
