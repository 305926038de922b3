package restore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/restore/backupstore"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// copyFixture copies a fixture folder into a temporary directory, so a test
// can damage it.
func copyFixture(t *testing.T, folder string) string {
	t.Helper()
	return testenv.CopyTree(t, filepath.Join(fixtures, folder))
}

const (
	lz4Vol     = "vol-lz4"
	lz4Full    = "backup-7f3a9c21d4e85b60"
	lz4Dir     = "backupstore/volumes/19/25/vol-lz4"
	randomBlk  = "bfb0d1f68ace255a6b9d28fcd51df26ecf3e6b54a492acb7eeeeebd08509bba0" // block 5
	textBlk    = "3d51c28c440601834cf4de0f58be38e1f64404f427d96df77d7af457a1ba1522" // block 2
	randomPath = lz4Dir + "/blocks/bf/b0/" + randomBlk + ".blk"
	textPath   = lz4Dir + "/blocks/3d/51/" + textBlk + ".blk"
	fullCfg    = lz4Dir + "/backups/backup_" + lz4Full + ".cfg"
)

func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(old, new string) func([]byte) []byte {
	return func(b []byte) []byte { return []byte(strings.Replace(string(b), old, new, 1)) }
}

// damageCase is one damaged (or misnamed) restore of TestRestoreRejectsDamage.
type damageCase struct {
	name     string
	damage   func(t *testing.T, root string)
	volume   string
	backup   string
	sentinel error
	msg      string // exact error (restore); "" skips the message check
	block    bool   // a block-level problem: Verify reports it
}

// damageCases damage the lz4-chain fixture one way each.
func damageCases() []damageCase {
	return []damageCase{{
		name: "flipped byte in a block",
		damage: func(t *testing.T, root string) {
			editFile(t, filepath.Join(root, randomPath), func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
		},
		sentinel: backupstore.ErrChecksumMismatch, block: true,
		msg: "bak://vol-lz4/backup-7f3a9c21d4e85b60: block at offset 10485760 (" + randomPath + "): block checksum mismatch: content hashes to ",
	}, {
		name:     "missing block",
		damage:   func(t *testing.T, root string) { os.Remove(filepath.Join(root, textPath)) },
		sentinel: backupstore.ErrBlockMissing, block: true,
		msg: "bak://vol-lz4/backup-7f3a9c21d4e85b60: block at offset 4194304 (" + textPath + "): block missing",
	}, {
		name: "truncated block",
		damage: func(t *testing.T, root string) {
			editFile(t, filepath.Join(root, textPath), func(b []byte) []byte { return b[:len(b)-9] })
		},
		sentinel: backupstore.ErrCorruptBlock, block: true,
	}, {
		name: "truncated backup cfg",
		damage: func(t *testing.T, root string) {
			editFile(t, filepath.Join(root, fullCfg), func(b []byte) []byte { return b[:len(b)/2] })
		},
		sentinel: backupstore.ErrInvalidConfig,
		msg:      fullCfg + ": invalid backup config: backup cfg is not a JSON object: unexpected end of JSON input",
	}, {
		name: "unknown compression",
		damage: func(t *testing.T, root string) {
			editFile(t, filepath.Join(root, fullCfg), replaceIn(`"CompressionMethod":"lz4"`, `"CompressionMethod":"zstd"`))
		},
		sentinel: backupstore.ErrUnsupportedCompression,
		msg:      fullCfg + `: backup cfg CompressionMethod: unsupported compression method "zstd"; expected lz4, gzip or none`,
	}, {
		name: "in-progress backup",
		damage: func(t *testing.T, root string) {
			editFile(t, filepath.Join(root, fullCfg), replaceIn(`"CreatedTime":"2026-11-23T22:21:40Z"`, `"CreatedTime":""`))
		},
		sentinel: backupstore.ErrInProgress,
		msg:      "bak://vol-lz4/backup-7f3a9c21d4e85b60: backup in progress (its cfg has no CreatedTime yet); wait for it to complete",
	}, {
		name: "volume size not a multiple of the block size",
		damage: func(t *testing.T, root string) {
			editFile(t, filepath.Join(root, lz4Dir, "volume.cfg"), replaceIn(`"Size":"67108864"`, `"Size":"67108865"`))
		},
		sentinel: backupstore.ErrInvalidConfig,
		msg:      fullCfg + ": invalid backup config: volume size 67108865 is not a positive multiple of the block size 2097152",
	}, {
		name: "block checksum escaping the store",
		damage: func(t *testing.T, root string) {
			editFile(t, filepath.Join(root, fullCfg), replaceIn(randomBlk, "../../../../../../../../../../../../../../../../etc/passwd.blk.."))
		},
		sentinel: backupstore.ErrInvalidName,
	}, {
		name: "volume name with ..", volume: "../vol-lz4",
		sentinel: backupstore.ErrInvalidName,
		msg:      `invalid name: volume name "../vol-lz4"; expected letters, digits, '_', '.', '-' (not first)`,
	}, {
		name: "backup name with a slash", backup: "x/../" + lz4Full,
		sentinel: backupstore.ErrInvalidName,
	}, {
		name: "unknown backup", backup: "backup-nope",
		sentinel: backupstore.ErrBackupNotFound,
		msg: "backup not found: bak://vol-lz4/backup-nope (no " + lz4Dir + "/backups/backup_backup-nope.cfg); " +
			"available backups (newest first): bak://vol-lz4/backup-a94d0f6e2b1c7358, bak://vol-lz4/backup-1c0e4b2f9a7d6835, bak://vol-lz4/backup-7f3a9c21d4e85b60",
	}}
}

func TestRestoreRejectsDamage(t *testing.T) {
	t.Parallel()
	cases := damageCases()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := copyFixture(t, "lz4-chain")
			if c.damage != nil {
				c.damage(t, root)
			}
			vol, bak := lz4Vol, lz4Full
			if c.volume != "" {
				vol = c.volume
			}
			if c.backup != "" {
				bak = c.backup
			}
			st, err := OpenStore("file://"+root, StoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "image")
			sum, err := Restore(context.Background(), st.Store, vol, bak, target, Options{})
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("Restore error = %v; want %v", err, c.sentinel)
			}
			if sum != (Summary{}) {
				t.Errorf("Restore reported %+v alongside the error", sum)
			}
			if c.msg != "" && !strings.HasPrefix(err.Error(), c.msg) {
				t.Errorf("Restore error\n got %q\nwant %q", err, c.msg)
			}
			if !c.block {
				if _, serr := os.Stat(target); !errors.Is(serr, fs.ErrNotExist) {
					t.Errorf("target created for a backup that cannot be restored")
				}
			}
			rep, verr := Verify(context.Background(), st.Store, vol, bak, VerifyOptions{})
			switch {
			case c.block:
				if verr != nil || len(rep.Problems) != 1 || !errors.Is(rep.Problems[0], c.sentinel) {
					t.Fatalf("Verify = %v, %v; want one %v problem", rep.Problems, verr, c.sentinel)
				}
				if c.msg != "" && !strings.HasPrefix(rep.Problems[0].Error(), c.msg) {
					t.Errorf("Verify problem\n got %q\nwant %q", rep.Problems[0], c.msg)
				}
			case !errors.Is(verr, c.sentinel):
				t.Errorf("Verify error = %v; want %v", verr, c.sentinel)
			}
		})
	}
}
