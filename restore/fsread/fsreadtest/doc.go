// Package fsreadtest builds the golden trees and images the fsread and CLI
// tests share: a generated directory tree with every kind of file ext4 can
// hold, an ext4 image of it made by mkfs.ext4 -d (with hashed directories by
// e2fsck -D), and a comparable snapshot of a tree on disk. Test support only.
package fsreadtest
