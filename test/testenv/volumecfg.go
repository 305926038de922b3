package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// EditVolumeConfig rewrites the volume.cfg of volume in the file backupstore
// at root with edit applied: a volume marked as created from a backing image,
// which the engine's own WriteBackup never writes.
func EditVolumeConfig(t testing.TB, root, volume string, edit func(*backupstore.Volume)) {
	t.Helper()
	cfg := filepath.Join(root, backupstore.VolumeConfigPath(volume))
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := backupstore.ParseVolume(data)
	if err != nil {
		t.Fatalf("%s: %v", cfg, err)
	}
	edit(vol)
	if data, err = backupstore.MarshalVolume(vol); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
