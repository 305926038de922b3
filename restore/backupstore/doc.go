// Package backupstore reads and writes the Longhorn backupstore format: the
// volume.cfg and backup_<name>.cfg documents, the object paths under
// backupstore/volumes/, block checksums and block compression (lz4, gzip, none).
// It does not restore images (package restore does) and holds no storage
// driver: a Store wraps any Objects implementation (backupstore/file,
// backupstore/s3). Entry points: New, Store.Backup, Decoder.Decode.
package backupstore
