// Package ingress is kite's built-in Ingress controller: a reverse proxy that
// runs inside every agent, serves networking.k8s.io/v1 Ingresses of the class
// "kite" on :80 and :443, routes straight to EndpointSlice endpoints and
// terminates TLS with certificates from Secrets chosen by SNI.
package ingress

import (
	"io"
	"log/slog"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// ClassName is the IngressClass name (and legacy class annotation value)
// whose Ingresses kite serves.
const ClassName = "kite"

// ControllerName is spec.controller of the IngressClass kite.
const ControllerName = "kite.io/ingress"

const (
	// annotationLegacyClass is the pre-IngressClass way of naming a class.
	annotationLegacyClass = "kubernetes.io/ingress.class"
	// AnnotationSSLRedirect, set to "true" on an Ingress, makes plain HTTP
	// requests for hosts it has TLS for answer with a 308 to https.
	AnnotationSSLRedirect = "ingress.kite.io/ssl-redirect"
)

// Config is what an agent hands the ingress proxy.
type Config struct {
	// Client reads Ingresses, IngressClasses, Services, EndpointSlices and TLS Secrets.
	Client kubernetes.Interface
	// HTTPAddr and HTTPSAddr are the listen addresses, normally ":80" and ":443".
	HTTPAddr, HTTPSAddr string
	// Recorder receives Warning events about Ingresses that cannot be fully
	// served. It may be nil.
	Recorder record.EventRecorder
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// AccessLog, when set, receives the access log instead of Logger: the
	// same line per request as Logger's text handler would write, written
	// in batches (at most accessLogFlushInterval late). Writing each line
	// through slog costs a good share of a small request.
	AccessLog io.Writer
}
