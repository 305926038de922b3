package restore

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// CanonicalBackupstore is the form two spellings of one backupstore share, so that a
// reference naming the configured store is recognized however it is written: vfs:// is
// file://, file://localhost/p is file:///p, paths are cleaned and lose a trailing slash
// (a bucket root keeps "/": s3://b@r and s3://b@r/ are one store), and an S3 region is
// compared in lowercase. region fills in an S3 URL without "@region" (the store's
// AWS_REGION); pass "" for a URL as written.
func CanonicalBackupstore(raw, region string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("backupstore URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "file", "vfs":
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("backupstore URL %q: host %q; expected file:///absolute/path", raw, u.Host)
		}
		return "file://" + path.Clean("/"+u.Path), nil
	case "s3":
		bucket := u.Host
		if u.User != nil {
			bucket, region = u.User.Username(), u.Host
		}
		return "s3://" + bucket + "@" + strings.ToLower(region) + "/" + strings.Trim(path.Clean("/"+u.Path), "/"), nil
	}
	// nfs, cifs, azblob: not opened by this project; compare as written, minus a
	// trailing slash.
	return strings.TrimSuffix(raw, "/"), nil
}

// SameBackupstore reports whether a and b, as written, name one backupstore (see
// CanonicalBackupstore). URLs that do not parse are compared as written.
func SameBackupstore(a, b string) bool {
	ca, erra := CanonicalBackupstore(a, "")
	cb, errb := CanonicalBackupstore(b, "")
	if erra != nil || errb != nil {
		return a == b
	}
	return ca == cb
}

// Holds reports whether ref names a backup of s: it carries no backupstore, or one that
// is s under another spelling (CanonicalBackupstore).
func (s *Store) Holds(ref Reference) bool {
	if ref.Backupstore == "" {
		return true
	}
	c, err := CanonicalBackupstore(ref.Backupstore, "")
	return err == nil && c == s.canonical
}
