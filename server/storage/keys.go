package storage

import "strings"

// RootPrefix is where every API object lives in etcd, as in kube-apiserver.
const RootPrefix = "/registry/"

// ResourcePrefix is the key prefix of all objects of a storage resource.
func ResourcePrefix(storageResource string) string { return RootPrefix + storageResource + "/" }

// resourceOfKey returns the storage resource a key belongs to.
func resourceOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, RootPrefix)
	if !ok {
		return "", false
	}
	res, _, ok := strings.Cut(rest, "/")
	return res, ok
}

// prefixEnd is the first key after every key that starts with prefix.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}
