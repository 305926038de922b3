package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, dir, err string }{
		{"file:///srv/backups", "/srv/backups", ""},
		{"vfs:///var/lib/longhorn-backups", "/var/lib/longhorn-backups", ""},
		{"file://localhost/srv", "/srv", ""},
		{"file://host/srv", "", `backupstore URL "file://host/srv": host "host"; expected file:///absolute/path`},
		{"s3://bucket@us-east-1/x", "", `backupstore URL "s3://bucket@us-east-1/x": scheme "s3"; expected file:///path or vfs:///path`},
		{"file:relative", "", `backupstore URL "file:relative": path ""; expected an absolute path (file:///path)`},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			dir, err := ParseURL(c.in)
			if dir != c.dir || (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
				t.Errorf("ParseURL(%q) = %q, %v; want %q, %q", c.in, dir, err, c.dir, c.err)
			}
		})
	}
}

func TestStoreKeysStayInside(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	os.WriteFile(filepath.Join(filepath.Dir(root), "outside"), []byte("x"), 0o644)
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{"../outside", "/etc/passwd", "a/../../outside", ""} {
		if _, err := s.Open(ctx, key); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v; want fs.ErrInvalid", key, err)
		}
	}
	if _, err := s.Open(ctx, "backupstore/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v; want fs.ErrNotExist", err)
	}
	if err := s.Put(ctx, "backupstore/a/b.cfg", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	names, err := s.List(ctx, "backupstore/a")
	if err != nil || len(names) != 1 || names[0] != "b.cfg" {
		t.Errorf("List = %v, %v; want [b.cfg] (no temporary files)", names, err)
	}
}
