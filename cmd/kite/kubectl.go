package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Client auth plugins (OIDC) that the upstream kubectl binary also links.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// adminKubeconfig is where `kite server` writes the admin kubeconfig by
// default; `kite kubectl` uses it when the user has not said otherwise.
const adminKubeconfig = "/etc/kite/kite.yaml"

func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kubectl",
		Short: "Run the bundled kubectl (all arguments are passed through)",
		// kubectl parses its own flags, --help included.
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := runKubectl(args); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

// runKubectl runs upstream kubectl with args (everything after "kubectl").
func runKubectl(args []string) int {
	if path := kubeconfigFor(os.Getenv, fileState, homeDir()); path != "" {
		// Through the environment rather than --kubeconfig so an explicit
		// --kubeconfig on the command line still wins, as in kubectl.
		_ = os.Setenv("KUBECONFIG", path)
	}
	// kubectl reads os.Args itself (plugin lookup, usage text), so give it
	// the shape it would have as a standalone binary.
	os.Args = append([]string{"kubectl"}, args...)

	// As upstream's main does: apply -v early so logging during command
	// construction (plugins, kuberc) honours it.
	_, _ = logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args))
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// Prints kubectl's own "error: ..." and exits with kubectl's code.
		util.CheckErr(err)
	}
	return 0
}

// kubeconfigFor decides which kubeconfig kubectl should use, or "" to leave
// kubectl's own default (~/.kube/config). KUBECONFIG, when set, always
// wins. Otherwise kite's admin kubeconfig is used when it exists; when it
// exists but cannot be read (a non-root user) and the user has a
// ~/.kube/config, that one is the better guess. If neither is usable the
// admin path is still chosen, so kubectl's error names it ("permission
// denied") instead of silently dialing localhost:8080.
func kubeconfigFor(getenv func(string) string, state func(string) (exists, readable bool), home string) string {
	if getenv("KUBECONFIG") != "" {
		return ""
	}
	exists, readable := state(adminKubeconfig)
	if !exists {
		return ""
	}
	if !readable && home != "" {
		if userExists, _ := state(filepath.Join(home, ".kube", "config")); userExists {
			return ""
		}
	}
	return adminKubeconfig
}

// fileState reports whether path exists and whether this process can read it.
func fileState(path string) (exists, readable bool) {
	f, err := os.Open(path)
	if err == nil {
		f.Close()
		return true, true
	}
	return !os.IsNotExist(err), false
}

func homeDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return home
}
