package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// ManyBackups is a volume with many backups whose cfgs are generated, not backed
// up (issue #13: listing 5,000 backups).
type ManyBackups struct {
	Volume string
	// N backups, created a minute apart from First; each cfg's modification time
	// is its CreatedTime, as when Longhorn wrote it.
	N     int
	First time.Time
	// InProgress of the newest backups have no CreatedTime yet.
	InProgress int
}

// Name is the name of backup i (0 is the oldest): backup-<16 hex digits>, in no
// time order.
func (m ManyBackups) Name(i int) string {
	return fmt.Sprintf("backup-%016x", uint64(i+1)*0x9e3779b97f4a7c15)
}

// Write writes volume.cfg and the backup cfgs (no blocks) under root, the directory
// holding backupstore/ (a file:// backupstore, or a bucket directory of the posix
// root of versitygw, which serves files written there).
func (m ManyBackups) Write(root string) error {
	vol := &backupstore.Volume{Name: m.Volume, Size: 64 << 20, CreatedTime: m.First.UTC().Format(time.RFC3339),
		CompressionMethod: backupstore.CompressionLZ4, LastBackupName: m.Name(m.N - 1)}
	data, err := backupstore.MarshalVolume(vol)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(root, backupstore.VolumeConfigPath(m.Volume)), data, m.First); err != nil {
		return err
	}
	for i := range m.N {
		created := m.First.Add(time.Duration(i) * time.Minute).UTC()
		b := &backupstore.Backup{Name: m.Name(i), VolumeName: m.Volume, SnapshotName: fmt.Sprintf("snap-%d", i),
			CreatedTime: created.Format(time.RFC3339), CompressionMethod: backupstore.CompressionLZ4,
			BlockSize: backupstore.BlockSize2Mi, IsIncremental: i > 0}
		if i >= m.N-m.InProgress {
			b.CreatedTime = ""
		}
		data, err := backupstore.MarshalBackup(b)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(root, backupstore.BackupConfigPath(m.Volume, b.Name)), data, created); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, data []byte, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	return os.Chtimes(path, mtime, mtime)
}
