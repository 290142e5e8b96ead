// Package joinprotocol is what a kite server and a joining node agree on:
// the join token's format, how /cacerts is vouched for, and the messages
// of POST /v1-kite/node. The server side lives in server/auth and
// server/apiserver, the node side in agent/join.
package joinprotocol

// Paths of the join endpoints on the server's API port, served without
// client certificates: the joining node has none yet.
const (
	// CACertsPath serves the cluster CA bundle (PEM) without auth.
	CACertsPath = "/cacerts"
	// NodePath signs a node's certificates for a NodeRequest.
	NodePath = "/v1-kite/node"
)

// NodeUser is the Basic auth user name a joining node gives, with the
// token's secret as password.
const NodeUser = "node"

// NodeRequest is the body of POST /v1-kite/node.
type NodeRequest struct {
	NodeName   string   `json:"nodeName"`
	NodeIPs    []string `json:"nodeIPs"`
	Hostnames  []string `json:"hostnames"`
	ClientCSR  string   `json:"clientCSR"`
	ServingCSR string   `json:"servingCSR"`
}

// NodeResponse is what a joining node gets back.
type NodeResponse struct {
	ClientCert    string `json:"clientCert"`
	ServingCert   string `json:"servingCert"`
	CACert        string `json:"caCert"`
	ClusterCIDR   string `json:"clusterCIDR"`
	ServiceCIDR   string `json:"serviceCIDR"`
	ClusterDNS    string `json:"clusterDNS"`
	ClusterDomain string `json:"clusterDomain"`
	// Disabled names the packaged parts the server turned off, which no
	// node runs either (dns, ingress).
	Disabled []string `json:"disabled,omitempty"`
}
