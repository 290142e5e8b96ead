package join

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"kite/internal/atomicfile"
)

// Credentials are secrets (keys) or identify the node (certificates); all
// of them are readable by root only.
const (
	fileMode os.FileMode = 0o600
	dirMode  os.FileMode = 0o700
)

// writeFiles writes each named file into dir atomically.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for name, data := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), data, fileMode); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeconfig writes the kubelet's kubeconfig, referring to the
// certificate files by path so renewed certificates need no new kubeconfig,
// and returns the client configuration it describes.
func writeKubeconfig(creds *Credentials, serverURL string) (*rest.Config, error) {
	const name = "kite"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: serverURL, CertificateAuthority: creds.ServerCA}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: creds.ClientCert, ClientKey: creds.ClientKey}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	if err := atomicfile.WriteFile(creds.Kubeconfig, data, fileMode); err != nil {
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", creds.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", creds.Kubeconfig, err)
	}
	return rc, nil
}
