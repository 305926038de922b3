// Package s3 is the backupstore driver for S3 and S3-compatible stores
// (s3://bucket@region/path URLs), built on minio-go. Configuration comes from
// the variables of Longhorn's backup-target secret (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINTS, AWS_CERT,
// VIRTUAL_HOSTED_STYLE) via OptionsFromEnv. Entry point: New.
package s3
