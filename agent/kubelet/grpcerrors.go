package kubelet

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// isNotFound reports a CRI "no such sandbox/container/image" answer.
func isNotFound(err error) bool {
	return status.Code(err) == codes.NotFound
}
