// Package nbd serves a backup's volume image (or one partition of it),
// lazily read with restore.OpenReader, as a read-only NBD export, so any
// filesystem in it can be mounted with nbd-client and mount -o ro. It never
// writes: write requests get an EPERM reply. Entry points: Run (open, listen,
// serve until ctx ends) and Serve (an export on a listener).
package nbd
