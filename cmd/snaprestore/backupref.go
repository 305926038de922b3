package main

import (
	"errors"
	"fmt"

	"github.com/snaprestore/snaprestore/restore"
)

// The words every command that names one backup shares: the REFERENCE
// paragraph of its help, and the --backupstore and --cache-size flags.
const (
	referenceHelp = `REFERENCE is bak://<volume>/<backup>, bs://<volume>/<backup>, <volume>/<backup>
or a Longhorn UI backup URL (which names its own backupstore).`
	backupstoreUsage = "backupstore URL: file:///path, vfs:///path or s3://bucket@region/[path]"
	cacheSizeUsage   = "decoded blocks kept in memory for later reads (K, M, G: powers of 1024)"
)

// openBackup resolves a REFERENCE argument against --backupstore
// (resolveReference) and opens the store it names.
func openBackup(raw, flagStore string) (restore.Reference, *restore.Store, error) {
	ref, storeURL, err := resolveReference(raw, flagStore)
	if err != nil {
		return restore.Reference{}, nil, err
	}
	st, err := openStore(storeURL)
	if err != nil {
		return restore.Reference{}, nil, err
	}
	return ref, st, nil
}

// resolveReference parses a bare backup reference and picks the backupstore:
// the one the reference carries (a Longhorn UI URL) or --backupstore.
func resolveReference(raw, flagStore string) (restore.Reference, string, error) {
	ref, err := restore.ParseReference(raw)
	if err != nil {
		return restore.Reference{}, "", err
	}
	switch {
	case ref.Backupstore != "" && flagStore != "" && !restore.SameBackupstore(ref.Backupstore, flagStore):
		return restore.Reference{}, "", fmt.Errorf("the reference names backupstore %s but --backupstore is %s; give one of them", ref.Backupstore, flagStore)
	case flagStore != "":
		return ref, flagStore, nil // the same store, maybe spelt otherwise (restore.SameBackupstore)
	case ref.Backupstore == "":
		return restore.Reference{}, "", errors.New("--backupstore is required (file:///path, vfs:///path or s3://bucket@region/[path])")
	}
	return ref, ref.Backupstore, nil
}
