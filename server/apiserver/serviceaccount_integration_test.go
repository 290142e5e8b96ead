package apiserver_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"kite/server/servertest"
)

func decodeSegment(t *testing.T, s string) []byte {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decoding JWT segment: %v", err)
	}
	return data
}

// bearerClient authenticates with token only.
func bearerClient(t *testing.T, e *env, token string) (kubernetes.Interface, *rest.Config) {
	t.Helper()
	cfg := &rest.Config{Host: e.s.Config.Host, BearerToken: token, QPS: -1, TLSClientConfig: rest.TLSClientConfig{CAFile: e.s.Config.CAFile}}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg
}

// tokenVolume returns the kube-api-access volume of pod, if any.
func tokenVolume(pod *corev1.Pod) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if strings.HasPrefix(pod.Spec.Volumes[i].Name, "kube-api-access-") {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// TestIntegrationServiceAccounts: new pods get their service account and
// its token volume as from kube-apiserver's ServiceAccount admission; a
// TokenRequest signs a token bound to a pod, which then authenticates as
// the service account until the pod is gone.
func TestIntegrationServiceAccounts(t *testing.T) {
	e := envFor(t, servertest.Start(t, servertest.WithServiceAccountAdmission))
	ns := e.namespace(t)
	c := ctx(t)
	sas := e.c.CoreV1().ServiceAccounts(ns)
	pods := e.c.CoreV1().Pods(ns)
	if _, err := sas.Create(c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("admission mounts the token", func(t *testing.T) {
		p := pod(ns, "app")
		p.Spec.ServiceAccountName = "robot"
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
		created, err := pods.Create(c, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		vol := tokenVolume(created)
		if vol == nil || vol.Projected == nil || len(vol.Name) != len("kube-api-access-")+5 {
			t.Fatalf("no kube-api-access volume: %+v", created.Spec.Volumes)
		}
		src := vol.Projected.Sources
		if len(src) != 3 || src[0].ServiceAccountToken == nil || src[0].ServiceAccountToken.Path != "token" || *src[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
			src[1].ConfigMap == nil || src[1].ConfigMap.Name != "kube-root-ca.crt" || src[1].ConfigMap.Items[0].Key != "ca.crt" ||
			src[2].DownwardAPI == nil || src[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
			t.Fatalf("projected sources %+v", src)
		}
		for _, ctr := range append(created.Spec.InitContainers, created.Spec.Containers...) {
			if len(ctr.VolumeMounts) != 1 || ctr.VolumeMounts[0].Name != vol.Name || !ctr.VolumeMounts[0].ReadOnly || ctr.VolumeMounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
				t.Fatalf("container %s mounts %+v", ctr.Name, ctr.VolumeMounts)
			}
		}
	})

	t.Run("automount off", func(t *testing.T) {
		p := pod(ns, "no-token")
		p.Spec.ServiceAccountName = "robot"
		p.Spec.AutomountServiceAccountToken = ptr.To(false)
		created, err := pods.Create(c, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tokenVolume(created) != nil || len(created.Spec.Containers[0].VolumeMounts) != 0 {
			t.Fatalf("automount false still mounted: %+v", created.Spec.Volumes)
		}
	})

	t.Run("missing service account", func(t *testing.T) {
		start := time.Now()
		_, err := pods.Create(c, pod(ns, "orphan"), metav1.CreateOptions{})
		wantForbidden(t, err, `error looking up service account `+ns+`/default: serviceaccount "default" not found`)
		if time.Since(start) < 500*time.Millisecond {
			t.Fatal("the default service account was not waited for")
		}
		mirror := pod(ns, "mirror")
		mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		mirror.Spec.ServiceAccountName = "robot"
		_, err = pods.Create(c, mirror, metav1.CreateOptions{})
		wantForbidden(t, err, "a mirror pod may not reference service accounts")
	})

	t.Run("token request", func(t *testing.T) {
		before := time.Now()
		tr, err := sas.CreateToken(c, "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "app"},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		exp := tr.Status.ExpirationTimestamp.Time
		if exp.Before(before.Add(3599*time.Second)) || exp.After(time.Now().Add(3601*time.Second)) {
			t.Fatalf("expiration %s, want an hour from now", exp)
		}
		var claims map[string]any
		if err := json.Unmarshal(decodeSegment(t, strings.Split(tr.Status.Token, ".")[1]), &claims); err != nil {
			t.Fatal(err)
		}
		if claims["iss"] != "https://kubernetes.default.svc.cluster.local" || claims["sub"] != "system:serviceaccount:"+ns+":robot" {
			t.Fatalf("claims %v", claims)
		}

		sa, _ := bearerClient(t, e, tr.Status.Token)
		review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(c, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("authenticating with the token: %v", err)
		}
		u := review.Status.UserInfo
		if u.Username != "system:serviceaccount:"+ns+":robot" || strings.Join(u.Groups, ",") != "system:serviceaccounts,system:serviceaccounts:"+ns+",system:authenticated" ||
			len(u.Extra["authentication.kubernetes.io/pod-name"]) != 1 || u.Extra["authentication.kubernetes.io/pod-name"][0] != "app" {
			t.Fatalf("service account user %+v", u)
		}
		_, err = sa.CoreV1().Pods(ns).List(c, metav1.ListOptions{})
		wantForbidden(t, err, `User "system:serviceaccount:`+ns+`:robot" cannot list resource "pods" in API group "" in the namespace "`+ns+`"`)

		// The issuer's discovery, for the token holder.
		_, cfg := bearerClient(t, e, tr.Status.Token)
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(e.s.Config.Host + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || doc["issuer"] != "https://kubernetes.default.svc.cluster.local" {
			t.Fatalf("openid configuration: %d %v", resp.StatusCode, doc)
		}
		if r := e.do(t, http.MethodGet, "/openid/v1/jwks", "", nil); r.code != http.StatusOK || !strings.Contains(string(r.body), `"keys"`) {
			t.Fatalf("jwks: %d %s", r.code, r.body)
		}

		// Deleting the pod ends the token.
		if err := pods.Delete(c, "app", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the token of a deleted pod to be refused", func() bool {
			_, err := sa.AuthenticationV1().SelfSubjectReviews().Create(c, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			return err != nil && strings.Contains(err.Error(), "Unauthorized")
		})
	})

	t.Run("token request refused", func(t *testing.T) {
		_, err := sas.CreateToken(c, "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)}}, metav1.CreateOptions{})
		st := wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, "spec.expirationSeconds", "")
		_, err = sas.CreateToken(c, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		other := pod(ns, "other")
		other.Spec.ServiceAccountName = "robot"
		other.Spec.AutomountServiceAccountToken = ptr.To(false)
		if _, err := sas.Create(c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "second"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pods.Create(c, other, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = sas.CreateToken(c, "second", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "other"},
		}}, metav1.CreateOptions{})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest)
		_, err = sas.CreateToken(c, "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "other", UID: "stale"},
		}}, metav1.CreateOptions{})
		wantAPIError(t, err, 409, metav1.StatusReasonConflict)
		// A token for another audience does not authenticate to the API.
		tr, err := sas.CreateToken(c, "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		vault, _ := bearerClient(t, e, tr.Status.Token)
		_, err = vault.AuthenticationV1().SelfSubjectReviews().Create(c, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		wantAPIError(t, err, 401, metav1.StatusReasonUnauthorized)
	})
}
