//go:build !linux

package server

// releaseStartupCode has nothing to do where /proc and MADV_PAGEOUT do not
// exist; kite runs its nodes on Linux.
func releaseStartupCode() {}
