// Package restore lists, verifies and restores Longhorn backups straight from
// a backupstore (file/vfs path or S3), without Longhorn, and writes
// Longhorn-format backups of raw images. It reads the store only; the backup
// writer is the one operation that writes to it. Entry points: OpenStore,
// Restore, Verify, List, WriteBackup; OpenReader reads a backup's image at
// random without restoring it. The snapshotHandle grammar shared with the
// webhook (ParseHandle) is in handle.go, bare references in reference.go.
package restore
