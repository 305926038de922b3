// Package fsread reads the filesystem inside a volume image without mounting it:
// Detect names what an image holds (ext2/3/4, xfs, btrfs, LUKS, LVM2, swap, a
// partition table, zeros), Open opens ext2/3/4 for Lstat, ReadDir, Readlink and
// file reads, and Extract copies a tree out preserving mode, owner, times,
// symlinks, hard links and xattrs without ever writing outside its destination.
// It depends only on an io.ReaderAt and a size (a restored image or the lazy
// backup reader); it never mounts or writes the image (a journal that needs
// recovery is replayed in memory). Entry points: Detect, Open, Extract.
package fsread
