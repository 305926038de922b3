package restore

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/restore/backupstore/file"
	"github.com/snaprestore/snaprestore/restore/backupstore/s3"
)

// objectStore is a driver the backup writer can also write through.
type objectStore interface {
	backupstore.Objects
	Put(ctx context.Context, key string, data []byte) error
	Exists(ctx context.Context, key string) (bool, error)
}

var (
	_ objectStore = (*file.Store)(nil)
	_ objectStore = (*s3.Store)(nil)
)

// Store is an opened backupstore.
type Store struct {
	*backupstore.Store
	URL  string
	objs objectStore
	// canonical is URL in CanonicalBackupstore form, with the S3 region from the
	// environment when the URL has none (see Holds).
	canonical string
}

// StoreOptions configure OpenStore.
type StoreOptions struct {
	// Getenv reads the S3 settings (AWS_ACCESS_KEY_ID, AWS_ENDPOINTS, ...);
	// default: every variable empty. The CLI passes os.Getenv.
	Getenv func(string) string
	// Transport overrides the S3 HTTP transport (tests).
	Transport http.RoundTripper
}

// OpenStore opens a backupstore URL: file:///path, vfs:///path or
// s3://bucket@region/path. It does not contact the store.
func OpenStore(rawURL string, o StoreOptions) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("backupstore URL %q: %w", rawURL, err)
	}
	var objs objectStore
	region := ""
	switch u.Scheme {
	case "file", "vfs":
		dir, err := file.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		if objs, err = file.New(dir); err != nil {
			return nil, err
		}
	case "s3":
		getenv := o.Getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		so := s3.OptionsFromEnv(getenv)
		if err := so.ParseURL(rawURL); err != nil {
			return nil, err
		}
		so.Transport = o.Transport
		region = so.Region
		if objs, err = s3.New(so); err != nil {
			return nil, err
		}
	case "nfs", "cifs":
		return nil, fmt.Errorf("backupstore URL %q: %s targets are read through a mount; mount the share and use file:///<mountpoint>", rawURL, u.Scheme)
	default:
		return nil, fmt.Errorf("backupstore URL %q: unsupported scheme %q; expected file:///path, vfs:///path or s3://bucket@region/[path]", rawURL, u.Scheme)
	}
	canonical, err := CanonicalBackupstore(rawURL, region)
	if err != nil {
		return nil, err
	}
	return &Store{Store: backupstore.New(objs), URL: rawURL, objs: objs, canonical: canonical}, nil
}

var (
	_ backupstore.Lister = (*file.Store)(nil)
	_ backupstore.Lister = (*s3.Store)(nil)
)
