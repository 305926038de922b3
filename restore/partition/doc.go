// Package partition lists the partitions of a disk image (GPT, protective MBR
// included, or MBR with logical partitions) read through an io.ReaderAt, such
// as a restore.Reader over a VM disk's backup. It only reads the tables: what
// is inside a partition is for the filesystem readers. Entry points: List and
// Open.
package partition
