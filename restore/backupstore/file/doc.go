// Package file is the backupstore driver for a directory: file:///path and
// vfs:///path URLs, and NFS/CIFS targets mounted at a path. Reads never
// modify the tree; Put (used by the backup writer) writes atomically via
// rename. Entry point: New.
package file
