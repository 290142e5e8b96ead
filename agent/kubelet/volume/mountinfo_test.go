package volume

import "testing"

func TestUnescapeOctal(t *testing.T) {
	tests := map[string]string{
		`/plain/path`:           "/plain/path",
		`/with\040space`:        "/with space",
		`/tab\011and\134slash`:  "/tab\tand\\slash",
		`/trailing\04`:          `/trailing\04`,
		`/not\999octal`:         `/not\999octal`,
		`/new\012line\040twice`: "/new\nline twice",
	}
	for in, want := range tests {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
