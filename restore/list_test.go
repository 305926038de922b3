package restore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestListInProgressFirst(t *testing.T) {
	t.Parallel()
	root := copyFixture(t, "lz4-chain")
	editFile(t, filepath.Join(root, fullCfg), replaceIn(`"CreatedTime":"2026-11-23T22:21:40Z"`, `"CreatedTime":""`))
	st, err := OpenStore("file://"+root, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := List(context.Background(), st.Store, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Handle, State string
		Created       time.Time
		Blocks        int
	}
	var got []row
	for _, v := range vols {
		for _, b := range v.Backups {
			got = append(got, row{b.Handle, b.State, b.Created, b.Blocks})
		}
	}
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	want := []row{
		{"bak://vol-lz4/backup-7f3a9c21d4e85b60", StateInProgress, time.Time{}, 7},
		{"bak://vol-lz4/backup-a94d0f6e2b1c7358", StateCompleted, at("2026-11-23T22:21:44Z"), 8},
		{"bak://vol-lz4/backup-1c0e4b2f9a7d6835", StateCompleted, at("2026-11-23T22:21:42Z"), 8},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backups (-want +got):\n%s", diff)
	}
}
