// Package restore lists, verifies and restores Longhorn backups straight from
// a backupstore (file/vfs path or S3), without Longhorn, and writes
// Longhorn-format backups of raw images. It reads the store only; the backup
// writer is the one operation that writes to it. Entry points: OpenStore,
// Restore, Verify, List, WriteBackup. The snapshotHandle grammar shared with the
// webhook (ParseHandle) lives in handle.go, bare backup references (ParseReference)
// in reference.go.
package restore
