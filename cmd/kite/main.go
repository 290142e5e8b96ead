// Command kite is the single kite binary: server, bundled kubectl and
// etcdctl. It is multicall: invoked under another name (for example through
// a symlink called kubectl) it behaves as that program.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// multicall maps the names kite answers to via argv[0] onto their entry
// points, so that a symlink such as /usr/local/bin/kubectl -> kite works
// with no wrapper script. Each entry gets the arguments after argv[0] and
// returns the process exit code.
var multicall = map[string]func(args []string) int{
	"kubectl": runKubectl,
	"etcdctl": runEtcdctl,
}

func main() {
	os.Exit(run(os.Args))
}

// run dispatches on argv[0] first, then on the command tree.
func run(argv []string) int {
	if entry, ok := multicall[filepath.Base(argv[0])]; ok {
		return entry(argv[1:])
	}

	root := newRootCommand()
	root.SetArgs(argv[1:])
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		// The subcommand already reported its failure in its own words.
		return int(code)
	}
	var usage usageError
	if errors.As(err, &usage) {
		// Usage first and the error last, so the line that says what is
		// wrong is the one left visible at the bottom of the terminal.
		fmt.Fprint(os.Stderr, cmd.UsageString())
	}
	fmt.Fprintf(os.Stderr, "kite: %s\n", oneLine(err.Error()))
	return 1
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "kite",
		Short: "Kite is a single-binary Kubernetes distribution",
		// Errors are printed once, by run, in kite's one-line format; usage
		// is printed only for command-line mistakes (see usageError).
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version,
	}
	root.SetVersionTemplate(versionText())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(
		newServerCommand(),
		newAgentCommand(),
		newKubectlCommand(),
		newEtcdctlCommand(),
		newVersionCommand(),
		newCheckConfigCommand(),
		newCleanupCommand(),
	)
	return root
}

// usageError marks a command-line mistake (unknown flag, bad flag value),
// the one kind of error that is worth showing the usage text for.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode is returned by subcommands that run an embedded program which
// prints its own errors (kubectl); run exits with the code silently.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// oneLine folds a multi-line message (cobra's "Did you mean this?" hints,
// wrapped library errors) into the single line kite promises on stderr.
func oneLine(msg string) string {
	return strings.Join(strings.Fields(msg), " ")
}
