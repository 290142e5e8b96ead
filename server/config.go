// Package server wires the datastore, storage, registry and API server into
// one running control plane.
package server

import (
	"net"

	"kite/server/controllers"
)

// Config is everything `kite server` needs; the CLI fills it from flags,
// the config file and KITE_* environment variables, and validates it.
type Config struct {
	DataDir             string   // root of all state, e.g. /var/lib/kite
	BindAddress         string   // address the API server listens on ("0.0.0.0")
	HTTPSPort           int      // API port, 6443
	AdvertiseAddress    net.IP   // address other nodes and pods use to reach this server
	NodeName            string   // this node's name (hostname by default)
	NodeIP              net.IP   // this node's primary IP
	TLSSANs             []string // extra names/IPs for the serving certificate
	WriteKubeconfig     string   // admin kubeconfig path, /etc/kite/kite.yaml
	WriteKubeconfigMode uint32   // file mode of the admin kubeconfig, 0600
	ClusterCIDR         *net.IPNet
	ServiceCIDR         *net.IPNet
	ClusterDNS          net.IP
	ClusterDomain       string
	NodePortRange       PortRange
	Disable             []string // packaged parts turned off (ingress, dns, ...)
	DisableAgent        bool
	// DisableControllerManager runs no controllers on this server.
	DisableControllerManager bool
	// DisableScheduler runs no scheduler on this server.
	DisableScheduler bool
	// DisableServiceAccountAdmission leaves new pods' service accounts
	// alone; only test servers that run no service-account controller (so
	// have no default service accounts) set it, as upstream's API server
	// integration tests disable the plugin.
	DisableServiceAccountAdmission bool
	// LeaderElection times the Leases behind the controllers and the
	// scheduler; zero means controllers.DefaultLeaderElection.
	LeaderElection    controllers.LeaderElection
	Token             string // cluster join token; generated when empty
	DatastoreEndpoint string // external etcd; embedded etcd when empty
	ClusterInit       bool
	// EtcdClientPort and EtcdPeerPort are the embedded etcd's ports
	// (2379/2380); tests set them to free ports.
	EtcdClientPort int
	EtcdPeerPort   int
}

// PortRange is an inclusive range of ports such as 30000-32767.
type PortRange struct {
	Base int
	Size int
}

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port int) bool { return port >= r.Base && port < r.Base+r.Size }
