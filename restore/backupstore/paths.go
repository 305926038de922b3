package backupstore

import (
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/snaprestore/snaprestore/restore/internal/batchsha"
)

// Root is the directory every Longhorn backupstore keeps its objects under.
const Root = "backupstore"

// ChecksumLen is the length of a block checksum and of a volume-name hash:
// the first 64 hex characters of a SHA-512.
const ChecksumLen = 64

// Checksum returns the Longhorn checksum of data: hex(sha512(data))[:64].
// Concurrent calls on blocks are hashed together where the CPU allows
// (restore/internal/batchsha).
func Checksum(data []byte) string {
	sum := batchsha.Sum512(data)
	return hex.EncodeToString(sum[:ChecksumLen/2])
}

// ValidateName checks a volume or backup name as Longhorn names them
// (letters, digits, '_', '.', '-', not starting with '.' or '-'); anything
// else could escape the store or address a different object.
func ValidateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s name", ErrInvalidName, kind)
	}
	if len(name) > 253 {
		return fmt.Errorf("%w: %s name %q is longer than 253 characters", ErrInvalidName, kind, name[:32]+"...")
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			(i > 0 && (r == '_' || r == '.' || r == '-'))
		if !ok {
			return fmt.Errorf("%w: %s name %q; expected letters, digits, '_', '.', '-' (not first)", ErrInvalidName, kind, name)
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%w: %s name %q contains \"..\"", ErrInvalidName, kind, name)
	}
	return nil
}

// ValidateChecksum checks a block checksum: 64 lowercase hex characters.
func ValidateChecksum(c string) error {
	if len(c) != ChecksumLen {
		return fmt.Errorf("%w: block checksum %q; expected %d lowercase hex characters", ErrInvalidName, c, ChecksumLen)
	}
	for _, r := range c {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return fmt.Errorf("%w: block checksum %q; expected %d lowercase hex characters", ErrInvalidName, c, ChecksumLen)
		}
	}
	return nil
}

// VolumesDir is the directory holding every volume (two hash levels deep).
func VolumesDir() string { return path.Join(Root, "volumes") }

// VolumeDir is backupstore/volumes/<h[0:2]>/<h[2:4]>/<volume>, h = Checksum(volume).
// The name must have passed ValidateName.
func VolumeDir(volume string) string {
	h := Checksum([]byte(volume))
	return path.Join(VolumesDir(), h[0:2], h[2:4], volume)
}

// VolumeConfigPath is the path of a volume's volume.cfg.
func VolumeConfigPath(volume string) string { return path.Join(VolumeDir(volume), "volume.cfg") }

// BackupsDir is the directory of a volume's backup cfgs.
func BackupsDir(volume string) string { return path.Join(VolumeDir(volume), "backups") }

// BackupConfigPath is the path of backup_<name>.cfg.
func BackupConfigPath(volume, backup string) string {
	return path.Join(BackupsDir(volume), backupFilePrefix+backup+backupFileSuffix)
}

// BlockPath is blocks/<c[0:2]>/<c[2:4]>/<c>.blk under the volume directory.
// The checksum must have passed ValidateChecksum.
func BlockPath(volume, checksum string) string {
	return path.Join(VolumeDir(volume), "blocks", checksum[0:2], checksum[2:4], checksum+".blk")
}

const (
	backupFilePrefix = "backup_"
	backupFileSuffix = ".cfg"
)

// backupNameFromFile returns the backup name of a backups/ entry, or false.
func backupNameFromFile(file string) (string, bool) {
	if !strings.HasPrefix(file, backupFilePrefix) || !strings.HasSuffix(file, backupFileSuffix) {
		return "", false
	}
	name := strings.TrimSuffix(strings.TrimPrefix(file, backupFilePrefix), backupFileSuffix)
	return name, ValidateName("backup", name) == nil
}
