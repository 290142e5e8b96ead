package auth

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestUserFromRequest(t *testing.T) {
	p := mustEnsure(t, testOptions(t.TempDir()))
	foreign := mustEnsure(t, testOptions(t.TempDir()))

	tlsCfg, err := p.ServingTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg.MinVersion < tls.VersionTLS12 || !slices.Equal(tlsCfg.NextProtos, []string{"h2", "http/1.1"}) {
		t.Fatalf("unexpected TLS config: min %x protos %v", tlsCfg.MinVersion, tlsCfg.NextProtos)
	}

	type who struct {
		User   string
		Groups []string
		OK     bool
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, groups, ok := UserFromRequest(r)
		_ = json.NewEncoder(w).Encode(who{user, groups, ok})
	}))
	srv.TLS = tlsCfg
	srv.StartTLS()
	defer srv.Close()

	clientPair := func(t *testing.T, issuer *PKI, cn string, orgs []string) []tls.Certificate {
		certPEM, keyPEM, err := issuer.IssueClientCert(cn, orgs)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{pair}
	}

	tests := []struct {
		name          string
		certs         func(t *testing.T) []tls.Certificate
		want          who
		wantHandshake bool
	}{
		{
			name: "admin",
			certs: func(t *testing.T) []tls.Certificate {
				pair, err := tls.LoadX509KeyPair(p.AdminCertFile, p.AdminKeyFile)
				if err != nil {
					t.Fatal(err)
				}
				return []tls.Certificate{pair}
			},
			want:          who{"system:admin", []string{"system:masters", "system:authenticated"}, true},
			wantHandshake: true,
		},
		{
			name: "node",
			certs: func(t *testing.T) []tls.Certificate {
				return clientPair(t, p, "system:node:node-a", []string{"system:nodes"})
			},
			want:          who{"system:node:node-a", []string{"system:nodes", "system:authenticated"}, true},
			wantHandshake: true,
		},
		{
			name:          "group already authenticated is not duplicated",
			certs:         func(t *testing.T) []tls.Certificate { return clientPair(t, p, "bob", []string{"system:authenticated"}) },
			want:          who{"bob", []string{"system:authenticated"}, true},
			wantHandshake: true,
		},
		{
			name:          "no certificate",
			certs:         func(*testing.T) []tls.Certificate { return nil },
			want:          who{OK: false},
			wantHandshake: true,
		},
		{
			name: "certificate from another CA is refused",
			certs: func(t *testing.T) []tls.Certificate {
				return clientPair(t, foreign, "mallory", []string{"system:masters"})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs := tt.certs(t)
			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig: &tls.Config{
					RootCAs:    p.CAPool(),
					ServerName: "kubernetes.default.svc",
					// Always present the certificate: with Certificates,
					// Go's client silently withholds one whose issuer is not
					// in the server's acceptable-CA list, and the foreign
					// case would test nothing.
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						if len(certs) == 0 {
							return &tls.Certificate{}, nil
						}
						return &certs[0], nil
					},
				},
				ForceAttemptHTTP2: true,
			}}
			defer client.CloseIdleConnections()
			resp, err := client.Get(srv.URL)
			if !tt.wantHandshake {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request with a foreign client certificate succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2", resp.Proto)
			}
			var got who
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.User != tt.want.User || got.OK != tt.want.OK || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("plain HTTP request", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if _, _, ok := UserFromRequest(r); ok {
			t.Fatal("request without TLS authenticated")
		}
	})
}
