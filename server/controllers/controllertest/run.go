package controllertest

import (
	"context"
	"testing"

	"kite/server/controllers"
	"kite/server/servertest"
)

// Start runs an API server (no controllers of its own) for the test and
// returns it with a controller context on it.
func Start(t testing.TB) (*servertest.Server, *controllers.Context) {
	t.Helper()
	s := servertest.Start(t)
	return s, s.ControllerContext(t)
}

// Run runs runners on cc's informers until the test ends.
func Run(t testing.TB, cc *controllers.Context, runners ...controllers.Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go cc.Run(ctx, runners...)
}
