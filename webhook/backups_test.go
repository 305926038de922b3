package webhook

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

func fixtureBackupstore(t *testing.T, folder string) *restore.Store {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("../restore/testdata/longhorn-backupstore", folder))
	if err != nil {
		t.Fatal(err)
	}
	st, err := restore.OpenStore("file://"+abs, restore.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// closedEndpoint is an http URL nothing listens on.
// closedEndpoint is an address that refuses every S3 request: it holds the port (a closed
// port can be taken by another test's server meanwhile) and closes each connection unread.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return "http://" + l.Addr().String()
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	path := field.NewPath("spec", "source", "snapshotHandle")
	lz4 := NewPreflight(fixtureBackupstore(t, "lz4-chain"), 0)
	ep := closedEndpoint(t)
	down, err := restore.OpenStore("s3://backups@us-east-1/longhorn", restore.StoreOptions{Getenv: func(k string) string {
		return map[string]string{"AWS_ENDPOINTS": ep}[k]
	}})
	if err != nil {
		t.Fatal(err)
	}
	unreachable := NewPreflight(down, 0)
	cases := []struct {
		name     string
		p        *Preflight
		volume   string
		backup   string
		errs     field.ErrorList
		warnings admission.Warnings
		size     int64
	}{
		{name: "completed backup", p: lz4, volume: "vol-lz4", backup: "backup-1c0e4b2f9a7d6835", size: 64 << 20},
		{name: "unknown backup lists the available ones", p: lz4, volume: "vol-lz4", backup: "backup-0000",
			errs: field.ErrorList{field.Invalid(path, "bak://vol-lz4/backup-0000",
				`backup "backup-0000" of volume "vol-lz4" does not exist in the backupstore; available backups (newest first): `+
					"bak://vol-lz4/backup-a94d0f6e2b1c7358, bak://vol-lz4/backup-1c0e4b2f9a7d6835, bak://vol-lz4/backup-7f3a9c21d4e85b60")}},
		{name: "unknown volume", p: lz4, volume: "vol-none", backup: "backup-1",
			errs: field.ErrorList{field.Invalid(path, "bak://vol-none/backup-1", `volume "vol-none" has no backups in the backupstore`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ref := restore.Reference{Volume: c.volume, Backup: c.backup}
			f := c.p.Facts(context.Background(), ref)
			errs, warnings := ValidateBackupFacts(path, ref.Handle(), f)
			if diff := cmp.Diff(c.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if size, known := f.Size(); size != c.size || known != (c.size > 0) {
				t.Errorf("Size = %d, %v; want %d", size, known, c.size)
			}
		})
	}
	t.Run("unreachable store allows with a warning", func(t *testing.T) {
		t.Parallel()
		f := unreachable.Facts(context.Background(), restore.Reference{Volume: "vol-lz4", Backup: "backup-1"})
		errs, warnings := ValidateBackupFacts(path, "bak://vol-lz4/backup-1", f)
		if len(errs) != 0 || len(warnings) != 1 {
			t.Fatalf("got %v, %v; want one warning", errs, warnings)
		}
		want := "spec.source.snapshotHandle: the backupstore could not be reached, so bak://vol-lz4/backup-1 was not checked ("
		if got := warnings[0]; len(got) < len(want) || got[:len(want)] != want {
			t.Errorf("warning %q; want prefix %q", got, want)
		}
	})
}

// TestCheckBackup: the pre-flight of a parsed reference, as the mutating handlers and the
// content rule run it. A reference naming the configured store under another spelling
// is checked (before #12 the raw strings differed and the check was skipped silently);
// one naming another store is allowed with a warning that says so.
func TestCheckBackup(t *testing.T) {
	t.Parallel()
	path := field.NewPath("metadata", "annotations").Key(AnnotationBackup)
	st := fixtureBackupstore(t, "gzip-single")
	p := NewPreflight(st, 0)
	vfs := strings.Replace(st.URL, "file://", "vfs://", 1) + "/"
	cases := []struct {
		name     string
		backups  Backups
		value    string
		errs     field.ErrorList
		warnings admission.Warnings
	}{
		{name: "completed backup", backups: p, value: "bak://vol-gzip/backup-5b2e8d1f0c4a9367"},
		{name: "legacy bs handle", backups: p, value: "bs://vol-gzip/backup-5b2e8d1f0c4a9367"},
		{name: "no backupstore configured", value: "bak://vol-gzip/backup-nope"},
		{name: "another backupstore: warned, not checked", backups: p, value: "s3://other@us-east-1/x?backup=backup-nope&volume=vol-gzip",
			warnings: admission.Warnings{path.String() + ": names backupstore s3://other@us-east-1/x, not the configured " + st.URL + ", so the backup was not checked"}},
		{name: "the configured store spelt vfs:// with a slash is checked", backups: p, value: vfs + "?backup=backup-nope&volume=vol-gzip",
			errs: field.ErrorList{field.Invalid(path, vfs+"?backup=backup-nope&volume=vol-gzip",
				`backup "backup-nope" of volume "vol-gzip" does not exist in the backupstore; available backups (newest first): bak://vol-gzip/backup-5b2e8d1f0c4a9367`)}},
		{name: "missing backup", backups: p, value: "bs://vol-gzip/backup-nope", errs: field.ErrorList{field.Invalid(path, "bs://vol-gzip/backup-nope",
			`backup "backup-nope" of volume "vol-gzip" does not exist in the backupstore; available backups (newest first): bak://vol-gzip/backup-5b2e8d1f0c4a9367`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ref, err := restore.ParseReference(c.value)
			if err != nil {
				t.Fatal(err)
			}
			errs, warnings := checkBackup(context.Background(), c.backups, path, c.value, ref)
			if diff := cmp.Diff(c.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
