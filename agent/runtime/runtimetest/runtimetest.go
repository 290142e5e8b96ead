// Package runtimetest lets a test binary stand in for the containerd and
// runc shim programs kite carries, so tests run the runtime without
// `make build`: Main dispatches on the name the binary was started under,
// and InstallSelf links the test binary in under both names.
package runtimetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"

	"kite/agent/runtime/bundle"
	"kite/agent/runtime/containerdmain"
	"kite/agent/runtime/shimmain"
)

// programEnv carries the shim's name across its one re-exec that cannot
// keep it in argv[0]: the shim starts its long-running copy from
// os.Executable(), the test binary's own path.
const programEnv = "KITE_TEST_PROGRAM"

// Main runs the test binary as containerd or as the shim when it was
// started as one, and runs the tests otherwise. Call it from TestMain.
func Main(m *testing.M) {
	name := filepath.Base(os.Args[0])
	if env := os.Getenv(programEnv); env != "" {
		name = env
	}
	// One binary holds both programs' plugins, where each program has
	// only its own; each loads every plugin registered, so each drops
	// the other's.
	switch name {
	case bundle.Containerd:
		keepPlugins(func(r plugin.Registration) bool { return !isShimTaskPlugin(r) })
		os.Exit(containerdmain.Run(os.Args[1:]))
	case shimmain.Name:
		if err := os.Setenv(programEnv, shimmain.Name); err != nil {
			panic(err)
		}
		keepPlugins(isShimTaskPlugin)
		shimmain.Run(os.Args[1:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func isShimTaskPlugin(r plugin.Registration) bool {
	return r.Type == plugins.TTRPCPlugin && r.ID == "task"
}

// keepPlugins drops every registered containerd plugin that keep rejects.
func keepPlugins(keep func(plugin.Registration) bool) {
	all := registry.Graph(func(*plugin.Registration) bool { return false })
	registry.Reset()
	for _, r := range all {
		if keep(r) {
			registry.Register(&r)
		}
	}
}

// InstallSelf is a runtime.Config.InstallPrograms that links the running
// test binary into binDir as containerd and as the shim.
func InstallSelf(binDir string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{bundle.Containerd, shimmain.Name} {
		link := filepath.Join(binDir, name)
		_ = os.Remove(link)
		if err := os.Symlink(exe, link); err != nil {
			return err
		}
	}
	return nil
}
