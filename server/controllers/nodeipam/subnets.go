package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net"
)

// maxSubnetBits bounds how many subnets one cluster CIDR is cut into
// (2^16), as upstream's CIDR set does: a bigger split is a misconfiguration.
const maxSubnetBits = 16

// errExhausted is returned when every subnet of a range is taken.
var errExhausted = errors.New("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")

// subnets hands out the equal-sized subnets (node pod CIDRs) of one
// cluster CIDR. It is not safe for concurrent use; the controller locks.
type subnets struct {
	cluster  *net.IPNet
	maskBits int // node subnet prefix length, e.g. 24
	count    int // how many subnets the cluster CIDR holds
	used     []bool
	taken    int
	next     int // where the search for a free subnet starts
}

// newSubnets splits cluster into subnets of prefix length maskBits.
func newSubnets(cluster *net.IPNet, maskBits int) (*subnets, error) {
	clusterBits, total := cluster.Mask.Size()
	if maskBits < clusterBits || maskBits > total {
		return nil, fmt.Errorf("node CIDR mask /%d does not fit in cluster CIDR %s", maskBits, cluster)
	}
	if maskBits-clusterBits > maxSubnetBits {
		return nil, fmt.Errorf("cluster CIDR %s split into /%d subnets makes more than 2^%d of them", cluster, maskBits, maxSubnetBits)
	}
	base := &net.IPNet{IP: cluster.IP.Mask(cluster.Mask), Mask: cluster.Mask}
	count := 1 << (maskBits - clusterBits)
	return &subnets{cluster: base, maskBits: maskBits, count: count, used: make([]bool, count)}, nil
}

// allocate takes the next free subnet, searching on from the last one
// handed out so a released subnet is not reused at once.
func (s *subnets) allocate() (*net.IPNet, error) {
	if s.taken == s.count {
		return nil, errExhausted
	}
	for i := 0; i < s.count; i++ {
		idx := (s.next + i) % s.count
		if !s.used[idx] {
			s.used[idx] = true
			s.taken++
			s.next = (idx + 1) % s.count
			return s.subnet(idx), nil
		}
	}
	return nil, errExhausted
}

// occupy marks every subnet overlapping cidr as taken: a node's existing
// pod CIDR, or a service range that overlaps the cluster range.
func (s *subnets) occupy(cidr *net.IPNet) error {
	first, last, err := s.span(cidr)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		if !s.used[i] {
			s.used[i] = true
			s.taken++
		}
	}
	return nil
}

// release frees the subnets overlapping cidr.
func (s *subnets) release(cidr *net.IPNet) error {
	first, last, err := s.span(cidr)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		if s.used[i] {
			s.used[i] = false
			s.taken--
		}
	}
	return nil
}

// isUsed reports whether cidr is exactly one subnet of this range and is
// taken.
func (s *subnets) isUsed(cidr *net.IPNet) bool {
	first, last, err := s.span(cidr)
	return err == nil && first == last && s.used[first]
}

// overlaps reports whether cidr and the range share addresses.
func (s *subnets) overlaps(cidr *net.IPNet) bool {
	return s.cluster.Contains(cidr.IP.Mask(cidr.Mask)) || cidr.Contains(s.cluster.IP)
}

// span returns the indexes of the first and last subnets cidr overlaps,
// clipped to the range.
func (s *subnets) span(cidr *net.IPNet) (first, last int, err error) {
	if (cidr.IP.To4() == nil) != (s.cluster.IP.To4() == nil) {
		return 0, 0, fmt.Errorf("%s is not of the IP family of %s", cidr, s.cluster)
	}
	if !s.overlaps(cidr) {
		return 0, 0, fmt.Errorf("%s is outside the cluster CIDR %s", cidr, s.cluster)
	}
	clusterBits, _ := s.cluster.Mask.Size()
	cidrBits, _ := cidr.Mask.Size()
	if cidrBits <= clusterBits {
		// cidr holds the whole range.
		return 0, s.count - 1, nil
	}
	start := s.index(cidr.IP.Mask(cidr.Mask))
	if cidrBits >= s.maskBits {
		return start, start, nil
	}
	return start, start + (1 << (s.maskBits - cidrBits)) - 1, nil
}

// index is the number of the subnet holding ip, which lies in the range.
func (s *subnets) index(ip net.IP) int {
	_, total := s.cluster.Mask.Size()
	offset := new(big.Int).Sub(ipInt(ip), ipInt(s.cluster.IP))
	return int(offset.Rsh(offset, uint(total-s.maskBits)).Int64())
}

// subnet returns subnet number idx.
func (s *subnets) subnet(idx int) *net.IPNet {
	_, total := s.cluster.Mask.Size()
	offset := new(big.Int).Lsh(big.NewInt(int64(idx)), uint(total-s.maskBits))
	n := new(big.Int).Add(ipInt(s.cluster.IP), offset)
	size := len(s.cluster.IP)
	if s.cluster.IP.To4() != nil {
		size = net.IPv4len
	}
	ip := make(net.IP, size)
	n.FillBytes(ip)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(s.maskBits, total)}
}

func ipInt(ip net.IP) *big.Int {
	if v4 := ip.To4(); v4 != nil {
		return new(big.Int).SetBytes(v4)
	}
	return new(big.Int).SetBytes(ip.To16())
}
