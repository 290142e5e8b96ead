package apiserver_test

import (
	"testing"
)

func TestScratch(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t)
	r := e.do(t, "DELETE", "/api/v1/namespaces/"+ns, "application/json", []byte(`{}`), "Accept", "application/json, */*")
	t.Logf("%d %v %s", r.code, r.header, r.body)
	r = e.do(t, "DELETE", "/api/v1/namespaces/"+ns, "", nil)
	t.Logf("%d %v %s", r.code, r.header, r.body)
}
