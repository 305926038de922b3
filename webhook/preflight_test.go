package webhook

import (
	"context"
	"net"
	"path/filepath"
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
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
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
			handle := "bak://" + c.volume + "/" + c.backup
			f := c.p.Facts(context.Background(), c.volume, c.backup)
			errs, warnings := ValidateBackupFacts(path, handle, f)
			if diff := cmp.Diff(c.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			size, known, err := c.p.BackupSize(context.Background(), restore.Reference{Volume: c.volume, Backup: c.backup})
			if err != nil || size != c.size || known != (c.size > 0) {
				t.Errorf("BackupSize = %d, %v, %v; want %d", size, known, err, c.size)
			}
		})
	}
	t.Run("unreachable store allows with a warning", func(t *testing.T) {
		t.Parallel()
		f := unreachable.Facts(context.Background(), "vol-lz4", "backup-1")
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

func TestPreflightCheckHandle(t *testing.T) {
	t.Parallel()
	path := field.NewPath("spec", "source", "snapshotHandle")
	p := NewPreflight(fixtureBackupstore(t, "gzip-single"), 0)
	cases := []struct {
		name   string
		p      *Preflight
		handle string
		errs   field.ErrorList
	}{
		{"completed backup", p, "bak://vol-gzip/backup-5b2e8d1f0c4a9367", nil},
		{"legacy bs handle", p, "bs://vol-gzip/backup-5b2e8d1f0c4a9367", nil},
		{"snapshot handles are not backups", p, "snap://vol-gzip/snap-1", nil},
		{"no backupstore configured", nil, "bak://vol-gzip/backup-nope", nil},
		{"another backupstore", p, "s3://other@us-east-1/x?backup=backup-nope&volume=vol-gzip", nil},
		{"missing backup", p, "bs://vol-gzip/backup-nope", field.ErrorList{field.Invalid(path, "bs://vol-gzip/backup-nope",
			`backup "backup-nope" of volume "vol-gzip" does not exist in the backupstore; available backups (newest first): bak://vol-gzip/backup-5b2e8d1f0c4a9367`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			errs, warnings := c.p.CheckHandle(context.Background(), path, c.handle)
			if diff := cmp.Diff(c.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings %v", warnings)
			}
		})
	}
}
