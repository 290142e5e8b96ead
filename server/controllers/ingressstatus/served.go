package ingressstatus

import (
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
)

// namesClass tells whether ing names a class at all; those that do not
// follow the default IngressClass.
func namesClass(ing *networkingv1.Ingress) bool {
	_, annotated := ing.Annotations[networkingv1beta1.AnnotationIngressClass]
	return ing.Spec.IngressClassName != nil || annotated
}

// classChanged tells whether an update can change which controller
// serves the Ingress.
func classChanged(old, cur *networkingv1.Ingress) bool {
	oldClass, oldAnnotated := old.Annotations[networkingv1beta1.AnnotationIngressClass]
	curClass, curAnnotated := cur.Annotations[networkingv1beta1.AnnotationIngressClass]
	if oldAnnotated != curAnnotated || oldClass != curClass {
		return true
	}
	if (old.Spec.IngressClassName == nil) != (cur.Spec.IngressClassName == nil) {
		return true
	}
	return old.Spec.IngressClassName != nil && *old.Spec.IngressClassName != *cur.Spec.IngressClassName
}
