package apiserver

import (
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/kubernetes/pkg/printers"
	printersinternal "k8s.io/kubernetes/pkg/printers/internalversion"
)

// tableGenerator prints the columns `kubectl get` shows, with upstream's
// own printers so columns match kube-apiserver's exactly.
var tableGenerator = printers.NewTableGenerator().With(printersinternal.AddHandlers)

// transformRestrictions lets get/list clients ask for Tables and partial
// object metadata in meta.k8s.io/v1.
type transformRestrictions struct{}

func (transformRestrictions) AllowsMediaTypeTransform(_, _ string, gvk *schema.GroupVersionKind) bool {
	if gvk == nil {
		return true
	}
	if gvk.Group != metav1.GroupName || gvk.Version != "v1" {
		return false
	}
	switch gvk.Kind {
	case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
		return true
	}
	return false
}
func (transformRestrictions) AllowsServerVersion(string) bool  { return false }
func (transformRestrictions) AllowsStreamSchema(s string) bool { return s == "watch" }

func negotiateOutput(r *http.Request) (negotiation.MediaTypeOptions, runtime.SerializerInfo, error) {
	return negotiation.NegotiateOutputMediaType(r, codecs, transformRestrictions{})
}

// transform converts an internal object or list into the requested
// meta.k8s.io representation.
func (h *resourceHandler) transform(r *http.Request, obj runtime.Object, kind string) (runtime.Object, error) {
	switch kind {
	case "Table":
		return h.table(r, obj)
	case "PartialObjectMetadata":
		if meta.IsListType(obj) {
			return nil, apierrors.NewBadRequest("you requested PartialObjectMetadata, but the requested object is a list (PartialObjectMetadataList)")
		}
		return partialMetadata(obj), nil
	case "PartialObjectMetadataList":
		if !meta.IsListType(obj) {
			return nil, apierrors.NewBadRequest("you requested PartialObjectMetadataList, but the requested object is not a list (PartialObjectMetadata)")
		}
		out := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"}}
		if lm, err := meta.ListAccessor(obj); err == nil {
			out.ResourceVersion, out.Continue, out.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
		}
		err := meta.EachListItem(obj, func(item runtime.Object) error {
			out.Items = append(out.Items, *partialMetadata(item))
			return nil
		})
		return out, err
	}
	return nil, negotiation.NewNotAcceptableError([]string{"Table", "PartialObjectMetadata", "PartialObjectMetadataList"})
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	out := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}}
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if m, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			out.ObjectMeta = *m
		}
	}
	return out
}

func (h *resourceHandler) table(r *http.Request, obj runtime.Object) (*metav1.Table, error) {
	opts := &metav1.TableOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	table, err := tableGenerator.GenerateTable(obj, printers.GenerateOptions{Wide: true, NoHeaders: opts.NoHeaders})
	if err != nil {
		// Kinds without a printer get kube-apiserver's default columns.
		table, err = defaultTable(obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	}
	table.Kind, table.APIVersion = "Table", "meta.k8s.io/v1"
	if lm, err := meta.ListAccessor(obj); err == nil && meta.IsListType(obj) {
		table.ResourceVersion, table.Continue, table.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
	} else if m, err := meta.Accessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	for i := range table.Rows {
		row := &table.Rows[i]
		switch opts.IncludeObject {
		case metav1.IncludeNone:
			row.Object.Object = nil
		case metav1.IncludeObject:
			v, err := h.toVersioned(row.Object.Object)
			if err != nil {
				return nil, err
			}
			setTypeMeta(v, h.res.GVK())
			row.Object.Object = v
		default:
			row.Object.Object = partialMetadata(row.Object.Object)
		}
	}
	return table, nil
}

func setTypeMeta(obj runtime.Object, gvk schema.GroupVersionKind) {
	obj.GetObjectKind().SetGroupVersionKind(gvk)
}

// defaultTable is the NAME / CREATED AT table kube-apiserver serves for
// kinds that have no printer of their own.
func defaultTable(obj runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
		{Name: "Created At", Type: "date", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
	}}
	add := func(item runtime.Object) error {
		m, err := meta.Accessor(item)
		if err != nil {
			return err
		}
		table.Rows = append(table.Rows, metav1.TableRow{
			Cells:  []interface{}{m.GetName(), m.GetCreationTimestamp().Time.UTC().Format(time.RFC3339)},
			Object: runtime.RawExtension{Object: item},
		})
		return nil
	}
	if meta.IsListType(obj) {
		return table, meta.EachListItem(obj, add)
	}
	return table, add(obj)
}
