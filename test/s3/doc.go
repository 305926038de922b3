// Package s3 runs the snaprestore CLI as a separate process, as users do, against a
// real SigV4 S3 server (versitygw from bin/, started per test by testenv.StartS3):
// backup, backups, verify and restore on bucket-root and prefixed targets, path-style
// and virtual-hosted-style, TLS trusted via AWS_CERT, and the errors a wrong
// backup-target secret or URL gives. It has tests only; TestMain builds the binary.
package s3
