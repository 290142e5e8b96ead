package envvars

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"VAR_A": "A", "VAR_B": "B", "EMPTY": "", "NESTED": "$(VAR_A)"}
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"no refs", "no refs"},
		{"$(VAR_A)", "A"},
		{"___$(VAR_B)___", "___B___"},
		{"$(VAR_A)-$(VAR_B)", "A-B"},
		{"$(EMPTY)x", "x"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(VAR_A)", "$(VAR_A)"},
		{"$$$(VAR_A)", "$A"},
		{"$$$$(VAR_A)", "$$(VAR_A)"},
		{"$(VAR_A", "$(VAR_A"},
		{"$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"},
		{"$($(VAR_B))", "$($(VAR_B))"},
		{"$()", "$()"},
		{"$VAR_A", "$VAR_A"},
		{"trailing $", "trailing $"},
		{"$", "$"},
		{"$$", "$"},
		{"$(NESTED)", "$(VAR_A)"}, // values are not expanded again
		{"héllo $(VAR_A) wörld", "héllo A wörld"},
		{"$(", "$("},
		{"$(unterminated $(VAR_A)", "$(unterminated $(VAR_A)"},
		{"x $( $(VAR_A) )", "x $( $(VAR_A) )"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, lookupIn(vars)); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandStatic(t *testing.T) {
	env := []v1.EnvVar{
		{Name: "PORT", Value: "8080"},
		{Name: "FROM_FIELD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	got := ExpandStatic([]string{"curl", "localhost:$(PORT)/$(FROM_FIELD)", "$(MISSING)"}, env)
	want := []string{"curl", "localhost:8080/", "$(MISSING)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExpandStatic = %q, want %q", got, want)
	}
}
