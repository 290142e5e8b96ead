package main

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	cfg, _ := clientcmd.BuildConfigFromFlags("", os.Args[1])
	cfg.QPS, cfg.Burst = -1, 0
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	pods := c.CoreV1().Pods("default")
	for i := 0; i < 8; i++ {
		name := fmt.Sprintf("t%d", i)
		w, _ := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		t := time.Now()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: "exp",
			Containers: []corev1.Container{{Name: "main", Image: "kite.test/busybox:1.0", Command: []string{"sh", "-c", "sleep 3600"}}}}}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			panic(err)
		}
		created := time.Since(t)
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok && pod.Status.Phase == corev1.PodRunning {
				break
			}
		}
		w.Stop()
		fmt.Printf("%s %s created after %v, Running after %v\n", name, t.UTC().Format("15:04:05.000"), created, time.Since(t))
	}
}
