package ingressstatus

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/ingress"
)

// testIngress is an Ingress with spec.ingressClassName className (none
// when nil) and, when annotated, the legacy class annotation annotation.
func testIngress(className *string, annotated bool, annotation string) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}
	ing.Spec.IngressClassName = className
	if annotated {
		ing.Annotations = map[string]string{networkingv1beta1.AnnotationIngressClass: annotation}
	}
	return ing
}

func ptr(s string) *string { return &s }

func TestServedByKite(t *testing.T) {
	tests := []struct {
		name          string
		ing           *networkingv1.Ingress
		kiteIsDefault bool
		want          bool
	}{
		{"class kite", testIngress(ptr("kite"), false, ""), false, true},
		{"class kite, kite default", testIngress(ptr("kite"), false, ""), true, true},
		{"another class", testIngress(ptr("nginx"), false, ""), true, false},
		{"the class field wins over the annotation", testIngress(ptr("nginx"), true, "kite"), false, false},
		{"the class field wins over the annotation, kite's way", testIngress(ptr("kite"), true, "nginx"), false, true},
		{"legacy annotation kite", testIngress(nil, true, "kite"), false, true},
		{"legacy annotation of another class", testIngress(nil, true, "traefik"), true, false},
		{"an empty annotation still names a class", testIngress(nil, true, ""), true, false},
		{"no class, kite default", testIngress(nil, false, ""), true, true},
		{"no class, kite not default", testIngress(nil, false, ""), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ingress.ServedByKite(tt.ing, tt.kiteIsDefault); got != tt.want {
				t.Errorf("servedByKite = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassChanged(t *testing.T) {
	tests := []struct {
		name     string
		old, cur *networkingv1.Ingress
		want     bool
	}{
		{"same class", testIngress(ptr("kite"), false, ""), testIngress(ptr("kite"), false, ""), false},
		{"class renamed", testIngress(ptr("kite"), false, ""), testIngress(ptr("nginx"), false, ""), true},
		{"class set", testIngress(nil, false, ""), testIngress(ptr("kite"), false, ""), true},
		{"class unset", testIngress(ptr("kite"), false, ""), testIngress(nil, false, ""), true},
		{"annotation added", testIngress(nil, false, ""), testIngress(nil, true, "kite"), true},
		{"annotation changed", testIngress(nil, true, "kite"), testIngress(nil, true, "nginx"), true},
		{"annotation removed", testIngress(nil, true, ""), testIngress(nil, false, ""), true},
		{"rules changed only", testIngress(nil, true, "kite"), func() *networkingv1.Ingress {
			ing := testIngress(nil, true, "kite")
			ing.Spec.Rules = []networkingv1.IngressRule{{Host: "example.com"}}
			return ing
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classChanged(tt.old, tt.cur); got != tt.want {
				t.Errorf("classChanged = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNamesClass(t *testing.T) {
	if namesClass(testIngress(nil, false, "")) {
		t.Error("an Ingress without class field or annotation names a class")
	}
	if !namesClass(testIngress(ptr("x"), false, "")) || !namesClass(testIngress(nil, true, "x")) {
		t.Error("an Ingress with a class field or annotation names no class")
	}
}

func TestIsDefaultKiteClass(t *testing.T) {
	class := func(name, isDefault string) *networkingv1.IngressClass {
		c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if isDefault != "" {
			c.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: isDefault}
		}
		return c
	}
	tests := []struct {
		name  string
		class *networkingv1.IngressClass
		want  bool
	}{
		{"kite, default", class("kite", "true"), true},
		{"kite, not marked", class("kite", ""), false},
		{"kite, marked false", class("kite", "false"), false},
		{"another default class", class("nginx", "true"), false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ingress.IsDefaultClass(tt.class); got != tt.want {
				t.Errorf("isDefaultKiteClass = %v, want %v", got, tt.want)
			}
		})
	}
}
