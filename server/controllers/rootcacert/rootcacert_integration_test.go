package rootcacert_test

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/rootcacert"
)

func ctx() context.Context { return context.Background() }

// waitPublished waits until ns holds the CA ConfigMap (other than the one
// with UID not) with data ca and the description annotation.
func waitPublished(t *testing.T, c kubernetes.Interface, ns, ca string, not types.UID) *corev1.ConfigMap {
	t.Helper()
	var cm *corev1.ConfigMap
	err := wait.PollUntilContextTimeout(ctx(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		var err error
		cm, err = c.CoreV1().ConfigMaps(ns).Get(ctx(), rootcacert.ConfigMapName, metav1.GetOptions{})
		return err == nil && cm.UID != not && cm.Data[rootcacert.DataKey] == ca && len(cm.Data) == 1 &&
			cm.Annotations[rootcacert.DescriptionAnnotation] == rootcacert.Description, nil
	})
	if err != nil {
		t.Fatalf("%s/%s not published: %+v", ns, rootcacert.ConfigMapName, cm)
	}
	return cm
}

func TestIntegrationRootCACert(t *testing.T) {
	s, cc := controllertest.Start(t)
	c := s.Client
	ca, err := os.ReadFile(s.Config.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Run(t, cc, rootcacert.New(cc, ca))

	waitPublished(t, c, "default", string(ca), "")
	if _, err := c.CoreV1().Namespaces().Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := waitPublished(t, c, "fresh", string(ca), "")

	// Edited: put right.
	cm.Data = map[string]string{rootcacert.DataKey: "bogus", "extra": "x"}
	delete(cm.Annotations, rootcacert.DescriptionAnnotation)
	if _, err := c.CoreV1().ConfigMaps("fresh").Update(ctx(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPublished(t, c, "fresh", string(ca), "")

	// Deleted: created again.
	if err := c.CoreV1().ConfigMaps("fresh").Delete(ctx(), rootcacert.ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPublished(t, c, "fresh", string(ca), cm.UID)

}
