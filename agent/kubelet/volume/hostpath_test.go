package volume

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
)

func TestCheckHostPathType(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	char := "/dev/null"
	block := ""
	if os.Geteuid() == 0 {
		block = filepath.Join(dir, "blk")
		if err := unix.Mknod(block, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))); err != nil {
			t.Fatalf("mknod: %v", err)
		}
	}
	missing := filepath.Join(dir, "missing")
	typ := func(t v1.HostPathType) *v1.HostPathType { return &t }

	tests := []struct {
		name    string
		path    string
		typ     *v1.HostPathType
		wantErr string
		creates bool
		created os.FileMode // ModeDir or 0 for a regular file, when the check creates it
	}{
		{name: "unset", path: missing, typ: nil},
		{name: "empty type", path: missing, typ: typ(v1.HostPathUnset)},
		{name: "directory", path: dir, typ: typ(v1.HostPathDirectory)},
		{name: "directory but file", path: file, typ: typ(v1.HostPathDirectory), wantErr: "hostPath type check failed: " + file + " is not a directory"},
		{name: "directory missing", path: missing, typ: typ(v1.HostPathDirectory), wantErr: "is not a directory"},
		{name: "directory or create existing", path: dir, typ: typ(v1.HostPathDirectoryOrCreate)},
		{name: "directory or create on file", path: file, typ: typ(v1.HostPathDirectoryOrCreate), wantErr: "is not a directory"},
		{name: "directory or create new", path: filepath.Join(dir, "new", "nested"), typ: typ(v1.HostPathDirectoryOrCreate), creates: true, created: os.ModeDir},
		{name: "file", path: file, typ: typ(v1.HostPathFile)},
		{name: "file but dir", path: dir, typ: typ(v1.HostPathFile), wantErr: "hostPath type check failed: " + dir + " is not a file"},
		{name: "file or create new", path: filepath.Join(dir, "newfile"), typ: typ(v1.HostPathFileOrCreate), creates: true},
		{name: "file or create without parent", path: filepath.Join(dir, "nope", "f"), typ: typ(v1.HostPathFileOrCreate), wantErr: "create hostPath file"},
		{name: "socket", path: sock, typ: typ(v1.HostPathSocket)},
		{name: "socket but file", path: file, typ: typ(v1.HostPathSocket), wantErr: "is not a socket file"},
		{name: "char device", path: char, typ: typ(v1.HostPathCharDev)},
		{name: "char device but file", path: file, typ: typ(v1.HostPathCharDev), wantErr: "is not a character device"},
		{name: "block device but char", path: char, typ: typ(v1.HostPathBlockDev), wantErr: "is not a block device"},
		{name: "invalid type", path: dir, typ: typ("Bogus"), wantErr: "Bogus is an invalid volume type"},
	}
	if block != "" {
		tests = append(tests, struct {
			name    string
			path    string
			typ     *v1.HostPathType
			wantErr string
			creates bool
			created os.FileMode
		}{name: "block device", path: block, typ: typ(v1.HostPathBlockDev)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkHostPathType(tt.path, tt.typ)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.creates {
				info, err := os.Stat(tt.path)
				if err != nil {
					t.Fatalf("not created: %v", err)
				}
				if info.Mode()&os.ModeDir != tt.created {
					t.Errorf("created %v", info.Mode())
				}
			}
		})
	}
}
