package restore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// countingTransport counts S3 requests: LIST (GET of the bucket with a prefix or
// list-type query) and GET of an object.
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	list int
	get  int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	c.mu.Lock()
	switch {
	case r.Method == http.MethodGet && (q.Has("list-type") || q.Has("prefix")):
		c.list++
	case r.Method == http.MethodGet:
		c.get++
	}
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *countingTransport) take() (list, get int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list, get, c.list, c.get = c.list, c.get, 0, 0
	return list, get
}

// TestManyBackupsOnVersitygw: one volume of 5,000 backups (cfgs generated into
// versitygw's posix root; the newest is in progress). A mistyped backup name is
// answered from one listing (5 LIST pages) and the cfgs of what is shown; the
// full list is newest first.
func TestManyBackupsOnVersitygw(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	many := testenv.ManyBackups{Volume: "vol-many", N: 5000, InProgress: 1, First: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := many.Write(filepath.Join(srv.Root, "backups", "longhorn")); err != nil {
		t.Fatal(err)
	}
	env := srv.Env()
	ct := &countingTransport{next: srv.Transport()}
	st, err := OpenStore("s3://backups@us-east-1/longhorn", StoreOptions{Getenv: func(k string) string { return env[k] }, Transport: ct})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var avail []string
	for i := many.N - 2; i > many.N-7; i-- {
		avail = append(avail, "bak://vol-many/"+many.Name(i))
	}
	mistype := func(name string) string { return name[:len(name)-1] + "x" }
	cases := []struct {
		name, missing, closest string
		gets                   int
	}{
		// volume.cfg, the missing cfg, the newest 6 (one in progress), which hold the closest.
		{"typo of the newest", mistype(many.Name(many.N - 2)), many.Name(many.N - 2), 8},
		// ... and the closest, older than what is shown.
		{"typo of an old backup", mistype(many.Name(10)), many.Name(10), 9},
		{"typo of the one in progress", mistype(many.Name(many.N - 1)), "", 8},
		{"another name", "nightly-2026-01-01", "", 8},
	}
	for _, c := range cases {
		_, err = Restore(ctx, st.Store, many.Volume, c.missing, filepath.Join(t.TempDir(), "img"), Options{})
		hint := ""
		if c.closest != "" {
			hint = "did you mean bak://vol-many/" + c.closest + "? "
		}
		want := fmt.Sprintf("backup not found: bak://vol-many/%s (no %s); %savailable backups (newest first): %s",
			c.missing, backupstore.BackupConfigPath(many.Volume, c.missing), hint, strings.Join(avail, ", "))
		if !errors.Is(err, backupstore.ErrBackupNotFound) || err.Error() != want {
			t.Errorf("%s: Restore:\n got %v\nwant %s", c.name, err, want)
		}
		// 5,000 names in 1,000-key pages: one listing.
		if list, get := ct.take(); list != 5 || get != c.gets {
			t.Errorf("%s: %d LIST and %d GET requests; want 5 LIST and %d GET", c.name, list, get, c.gets)
		}
	}

	vols, err := List(ctx, st.Store, ListOptions{Volume: many.Volume, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if b := vols[0].Backups; len(b) != 50 || vols[0].Omitted != many.N-50 || b[0].Name != many.Name(many.N-1) || b[49].Name != many.Name(many.N-50) {
		t.Errorf("List with Limit 50: %d backups from %s to %s, %d omitted; want 50 from %s to %s, %d omitted",
			len(b), b[0].Name, b[len(b)-1].Name, vols[0].Omitted, many.Name(many.N-1), many.Name(many.N-50), many.N-50)
	}
	if list, get := ct.take(); list != 5 || get != 51 {
		t.Errorf("List with Limit 50: %d LIST and %d GET requests; want 5 LIST and 51 GET (volume.cfg and the 50 shown)", list, get)
	}

	vi, err := ListVolume(ctx, st.Store, many.Volume)
	if err != nil {
		t.Fatal(err)
	}
	if len(vi.Backups) != many.N {
		t.Fatalf("%d backups listed; want %d", len(vi.Backups), many.N)
	}
	var got, wantOrder []string
	for i, b := range vi.Backups[:4] {
		got = append(got, b.Name+" "+b.State)
		state := StateCompleted
		if i == 0 {
			state = StateInProgress
		}
		wantOrder = append(wantOrder, many.Name(many.N-1-i)+" "+state)
	}
	if diff := cmp.Diff(wantOrder, got); diff != "" {
		t.Errorf("newest backups (-want +got):\n%s", diff)
	}
	if list, get := ct.take(); list != 5 || get != many.N+1 {
		t.Errorf("%d LIST and %d GET requests; want 5 LIST and %d GET (volume.cfg and every cfg once)", list, get, many.N+1)
	}
}

func TestClosestName(t *testing.T) {
	t.Parallel()
	names := []string{"backup-a94d0f6e2b1c7358", "backup-1c0e4b2f9a7d6835", "backup-1c0e4b2f9a7d6836", "backup-1", "nightly"}
	cases := []struct{ missing, want string }{
		{"backup-a94d0f6e2b1c7359", "backup-a94d0f6e2b1c7358"}, // one digit
		{"backup-a94d0f6e2b1c735", "backup-a94d0f6e2b1c7358"},  // one dropped
		{"backup-1c0e4b2f9a7d683x", "backup-1c0e4b2f9a7d6835"}, // a tie: the newer (first listed)
		{"backup-a94d0f6e2b1c7", "backup-a94d0f6e2b1c7358"},    // three dropped: still under a third
		{"backup-a94d0f6e2b1c", ""},                            // four: too far
		{"backup-2", "backup-1"},                               // short names, one edit
		{"weekly", ""},                                         // another name, not a typo
		{"", ""},
	}
	for _, c := range cases {
		if got := closestName(c.missing, names); got != c.want {
			t.Errorf("closestName(%q) = %q; want %q", c.missing, got, c.want)
		}
	}
	for _, c := range []struct {
		a, b  string
		bound int
		want  int
	}{{"kitten", "sitting", 10, 3}, {"kitten", "sitting", 2, 2}, {"", "abc", 10, 3}, {"abc", "abc", 1, 0}, {"abcdef", "a", 3, 3}} {
		if got := editDistance(c.a, c.b, c.bound); got != c.want {
			t.Errorf("editDistance(%q, %q, %d) = %d; want %d", c.a, c.b, c.bound, got, c.want)
		}
	}
}
