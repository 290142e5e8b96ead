package auth

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigName names the cluster, user and context, as k3s does, so
// scripts written for k3s's kubeconfig keep working.
const kubeconfigName = "default"

// WriteKubeconfig writes an admin kubeconfig for serverURL with the CA and
// the admin client certificate embedded, so the file works on its own when
// copied to another machine. The file is replaced atomically and ends up
// with exactly mode, whatever the umask.
func WriteKubeconfig(path string, mode os.FileMode, serverURL string, p *PKI) error {
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		return fmt.Errorf("read CA for kubeconfig: %w", err)
	}
	certPEM, err := os.ReadFile(p.AdminCertFile)
	if err != nil {
		return fmt.Errorf("read admin certificate for kubeconfig: %w", err)
	}
	keyPEM, err := os.ReadFile(p.AdminKeyFile)
	if err != nil {
		return fmt.Errorf("read admin key for kubeconfig: %w", err)
	}

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigName] = &clientcmdapi.Cluster{
		Server:                   serverURL,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[kubeconfigName] = &clientcmdapi.AuthInfo{
		ClientCertificateData: certPEM,
		ClientKeyData:         keyPEM,
	}
	cfg.Contexts[kubeconfigName] = &clientcmdapi.Context{
		Cluster:  kubeconfigName,
		AuthInfo: kubeconfigName,
	}
	cfg.CurrentContext = kubeconfigName

	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	if err := mkdirAllPublic(filepath.Dir(path)); err != nil {
		return fmt.Errorf("create directory for kubeconfig: %w", err)
	}
	if err := writeFileAtomic(path, data, mode.Perm()); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// mkdirAllPublic creates dir and any missing parents with mode 0755
// regardless of the umask: the kubeconfig's own mode decides who may read
// it (a --write-kubeconfig-mode 0644 file in a 0700 directory would be
// unreadable after all). Existing directories are left as they are.
func mkdirAllPublic(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAllPublic(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return os.Chmod(dir, 0o755)
}
