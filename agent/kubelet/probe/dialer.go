package probe

import (
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"syscall"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/component-base/version"
)

// dialer connects probe sockets with SO_LINGER of one second, so the
// thousands of short probe connections a node makes do not pile up in
// TIME_WAIT for a minute each. One second rather than zero, so the close
// is a FIN, not an RST that drops unsent data.
var dialer = &net.Dialer{
	Control: func(_, _ string, c syscall.RawConn) error {
		var sockErr error
		err := c.Control(func(fd uintptr) {
			sockErr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 1})
		})
		if err != nil {
			return err
		}
		return sockErr
	},
}

// userAgent is kube-probe/<major>.<minor> of the Kubernetes version kite
// reports; an unstamped build takes it from the k8s.io/api module it was
// built with (v0.37.x is Kubernetes 1.37).
var userAgent = func() string {
	info, _ := debug.ReadBuildInfo()
	return probeUserAgent(version.Get(), info)
}()

func probeUserAgent(v apimachineryversion.Info, build *debug.BuildInfo) string {
	if v.Major != "" && v.Minor != "" {
		return fmt.Sprintf("kube-probe/%s.%s", v.Major, strings.TrimSuffix(v.Minor, "+"))
	}
	if build != nil {
		for _, dep := range build.Deps {
			if dep.Path != "k8s.io/api" {
				continue
			}
			mod := dep
			if dep.Replace != nil {
				mod = dep.Replace
			}
			parts := strings.Split(strings.TrimPrefix(mod.Version, "v"), ".")
			if len(parts) >= 2 && parts[0] == "0" {
				return "kube-probe/1." + parts[1]
			}
		}
	}
	return "kube-probe"
}
