package cluster

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FixtureBackupstore copies the Longhorn-written backupstore fixtures of
// restore/testdata/longhorn-backupstore (every folder's backupstore/ tree) into
// one backupstore under dst and returns its file:// URL. Volumes: vol-lz4
// (64 MiB; backups backup-7f3a9c21d4e85b60, backup-1c0e4b2f9a7d6835,
// backup-a94d0f6e2b1c7358) and vol-gzip (32 MiB; backup-5b2e8d1f0c4a9367).
func FixtureBackupstore(moduleRoot, dst string) (string, error) {
	src := filepath.Join(moduleRoot, "restore", "testdata", "longhorn-backupstore")
	folders, err := filepath.Glob(filepath.Join(src, "*", "backupstore"))
	if err != nil || len(folders) == 0 {
		return "", fmt.Errorf("no backupstore fixtures under %s", src)
	}
	for _, f := range folders {
		if err := copyTree(f, filepath.Join(dst, "backupstore")); err != nil {
			return "", fmt.Errorf("copy fixture %s: %w", f, err)
		}
	}
	return "file://" + dst, nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
