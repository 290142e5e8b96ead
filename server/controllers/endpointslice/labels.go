package endpointslice

import (
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kite/server/controllers/endpoints/backends"
)

// sliceLabels are the Service's labels plus the reserved ones: the
// Service's name, this controller's mark and the headless marker.
func sliceLabels(svc *corev1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		if k != discovery.LabelServiceName && k != discovery.LabelManagedBy && k != corev1.IsHeadlessService {
			l[k] = v
		}
	}
	if backends.Headless(svc) {
		l[corev1.IsHeadlessService] = ""
	}
	l[discovery.LabelServiceName] = svc.Name
	l[discovery.LabelManagedBy] = ManagedBy
	return l
}

// newSlice is an empty slice for svc; the API server picks its name.
func newSlice(svc *corev1.Service, at discovery.AddressType, ports []discovery.EndpointPort) *discovery.EndpointSlice {
	ref := metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
	return &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       svc.Namespace,
			GenerateName:    namePrefix(svc.Name),
			Labels:          sliceLabels(svc),
			OwnerReferences: []metav1.OwnerReference{*ref},
		},
		AddressType: at,
		Ports:       ports,
		Endpoints:   []discovery.Endpoint{},
	}
}

// namePrefix is "<service>-", or the bare name when the dash would not fit.
func namePrefix(service string) string {
	if prefix := service + "-"; len(apivalidation.NameIsDNSSubdomain(prefix, true)) == 0 {
		return prefix
	}
	return service
}

// ownedBy tells whether slice belongs to this very Service (not to an
// older one of the same name).
func ownedBy(slice *discovery.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range slice.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

// managed tells whether this controller maintains slice.
func managed(slice *discovery.EndpointSlice) bool {
	return slice.Labels[discovery.LabelManagedBy] == ManagedBy
}
