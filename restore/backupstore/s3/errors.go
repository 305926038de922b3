package s3

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"

	"github.com/minio/minio-go/v7"
)

// Errors of the driver, each naming the backup-target setting to check. Test them
// with errors.Is; a missing key wraps fs.ErrNotExist instead.
var (
	// ErrCredentials: the server refused the keys (unknown access key, bad
	// signature, access denied).
	ErrCredentials = errors.New("s3 credentials refused")
	// ErrNoBucket: the bucket of the backupstore URL does not exist at the endpoint.
	ErrNoBucket = errors.New("s3 bucket does not exist")
	// ErrUnreachable: no answer from the endpoint (refused, unresolvable, TLS
	// failure, timeout).
	ErrUnreachable = errors.New("s3 endpoint unreachable")
)

// wrap names the operation and object, and turns what the server or the network
// said into an error naming the setting to check.
func (s *Store) wrap(op, key string, err error) error {
	where := fmt.Sprintf("%s s3://%s/%s", op, s.bucket, s.key(key))
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: %w", where, fs.ErrNotExist)
	case "NoSuchBucket":
		return fmt.Errorf("%s: %w: bucket %q not found at %s; check the bucket of the backupstore URL (s3://bucket@region/path)",
			where, ErrNoBucket, s.bucket, s.endpoint)
	case "InvalidAccessKeyId", "XAdminUserNotFound": // AWS; versitygw
		return fmt.Errorf("%s: %w: %s does not know the access key; check AWS_ACCESS_KEY_ID of the backup-target secret",
			where, ErrCredentials, s.endpoint)
	case "SignatureDoesNotMatch":
		return fmt.Errorf("%s: %w: %s rejected the request signature; check AWS_SECRET_ACCESS_KEY of the backup-target secret",
			where, ErrCredentials, s.endpoint)
	case "AccessDenied", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%s: %w: %s: %s; check that AWS_ACCESS_KEY_ID (and AWS_SESSION_TOKEN) may read bucket %q",
			where, ErrCredentials, s.endpoint, resp.Message, s.bucket)
	}
	if hint := networkHint(err); hint != "" {
		return fmt.Errorf("%s: %w: %s: %v; %s", where, ErrUnreachable, s.endpoint, err, hint)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// networkHint is the setting to check for an error that never reached the S3
// layer, or "" for any other error.
func networkHint(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		netErr    net.Error
		urlErr    *url.Error
	)
	switch {
	case errors.As(err, &unknownCA):
		return "the server's certificate is not signed by a trusted CA; check AWS_CERT"
	case errors.As(err, &hostname):
		return "the server's certificate does not name the host of AWS_ENDPOINTS; check AWS_ENDPOINTS and the certificate"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time; check AWS_ENDPOINTS and that the server is reachable"
	case errors.As(err, &netErr), errors.As(err, &urlErr):
		return "check AWS_ENDPOINTS and that the server is reachable"
	}
	return ""
}
