package main

import (
	"fmt"
	"net/url"
	"strings"
)

// checkServerURL requires the https URL of an existing server's API.
func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--server %q is not a server URL such as https://10.0.0.1:6443", s)
	}
	return nil
}

// checkDatastoreEndpoint requires etcd client URLs. k3s also accepts SQL
// databases here; kite stores in etcd only, so say that instead of failing
// later with a connection error.
func checkDatastoreEndpoint(s string) error {
	for _, endpoint := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(endpoint))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--datastore-endpoint %q is not a list of etcd URLs such as https://10.0.0.5:2379 (kite supports etcd only)", s)
		}
	}
	return nil
}
