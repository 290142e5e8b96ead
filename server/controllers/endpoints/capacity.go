//lint:file-ignore SA1019 core/v1 Endpoints are deprecated in favour of EndpointSlices, but clients still read them and this controller is what writes them.

package endpoints

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

const (
	// maxCapacity is the most addresses one Endpoints object carries;
	// EndpointSlices hold the rest.
	maxCapacity = 1000
	// overCapacityValue marks Endpoints cut down to maxCapacity.
	overCapacityValue = "truncated"
)

// truncate cuts subsets down to maxCapacity addresses, in place, and tells
// whether it had to. Ready addresses go first: not-ready ones are kept
// only while there is room. Each subset keeps a share of the room in
// proportion to its size (rounded up, so the last ones may get less).
func truncate(subsets []corev1.EndpointSubset) bool {
	var ready, notReady int
	for _, s := range subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= maxCapacity {
		return false
	}
	cutReady := ready > maxCapacity
	room, total := maxCapacity-ready, notReady
	if cutReady {
		room, total = maxCapacity, ready
	}
	left := room
	for i := range subsets {
		s := &subsets[i]
		n := len(s.NotReadyAddresses)
		if cutReady {
			n = len(s.Addresses)
		}
		share := min(int(math.Ceil(float64(n)/float64(total)*float64(room))), left)
		if cutReady {
			s.Addresses = s.Addresses[:min(share, len(s.Addresses))]
			s.NotReadyAddresses = nil
			left -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(share, len(s.NotReadyAddresses))]
			left -= len(s.NotReadyAddresses)
		}
	}
	return true
}
