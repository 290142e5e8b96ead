package probe

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// containerPort resolves a probe's port: a number, or the name of one of
// the container's ports.
func containerPort(port intstr.IntOrString, c *v1.Container) (int, error) {
	var n int
	switch port.Type {
	case intstr.Int:
		n = port.IntValue()
	case intstr.String:
		found := false
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				n, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("port %q not found", port.StrVal)
		}
	default:
		return 0, fmt.Errorf("intOrString had no kind: %+v", port)
	}
	if n <= 0 || n > 65535 {
		return n, fmt.Errorf("invalid port number: %v", n)
	}
	return n, nil
}
