package restore

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
)

type referenceCase struct {
	in       string
	want     Reference
	problem  string // "" when in is accepted
	expected string
}

func referenceCases() []referenceCase {
	const q = "?backup=backup-1&volume=test-vol"
	ref := func(store string) Reference {
		return Reference{Volume: "test-vol", Backup: "backup-1", Backupstore: store}
	}
	return []referenceCase{
		// Accepted.
		{in: "bak://test-vol/backup-1", want: ref("")},
		{in: "bs://test-vol/backup-1", want: Reference{Volume: "test-vol", Backup: "backup-1", Legacy: true}},
		{in: "test-vol/backup-1", want: ref("")},
		{in: "s3://backupbucket@us-east-1/longhorn" + q, want: ref("s3://backupbucket@us-east-1/longhorn")},
		{in: "s3://backupbucket@us-east-1/?volume=test-vol&backup=backup-1", want: ref("s3://backupbucket@us-east-1/")},
		{in: "s3://backupbucket@us-east-1" + q, want: ref("s3://backupbucket@us-east-1")},
		{in: "nfs://longhorn-nfs.default:/opt/backupstore" + q, want: ref("nfs://longhorn-nfs.default:/opt/backupstore")},
		{in: "cifs://smb.example.com/backups" + q, want: ref("cifs://smb.example.com/backups")},
		{in: "azblob://container@core.windows.net/path" + q, want: ref("azblob://container@core.windows.net/path")},
		{in: "vfs:///var/lib/longhorn-backupstore" + q, want: ref("vfs:///var/lib/longhorn-backupstore")},
		{in: "file:///srv/backupstore/" + q, want: ref("file:///srv/backupstore/")},

		// Handles keep their grammar and messages.
		{in: "bak://test-vol", problem: "missing backup name", expected: wantBak},
		{in: "bs://test-vol/backup-1/x", problem: `extra path "/x" after backup name`, expected: wantBs},
		{in: "snap://test-vol/s1", problem: "a snap:// handle does not name a backup", expected: wantRef},
		{in: "bi://backing?backingImage=bi-1&backingImageDataSourceType=download", problem: "a bi:// handle does not name a backup", expected: wantRef},

		// Bare references.
		{in: "", problem: "empty value", expected: wantRef},
		{in: "test-vol", problem: "missing backup name", expected: wantBare},
		{in: "/backup-1", problem: "missing volume name", expected: wantBare},
		{in: "test-vol/backup-1/x", problem: `extra path "/x" after backup name`, expected: wantBare},
		{in: "test-vol/backup-1?x=1", problem: `query string "?x=1" not allowed`, expected: wantBare},
		{in: "Test-Vol/backup-1", problem: `volume name "Test-Vol" has uppercase letters`, expected: wantBare},
		{in: "test-vol/backup-1 ", problem: `whitespace ' ' at offset 17`, expected: wantBare},
		{in: "test-vol/../backup-1", problem: `relative path part ".." not allowed`, expected: wantBare},
		{in: "test-vol/..", problem: `relative path part ".." not allowed`, expected: wantBare},
		{in: "a:b/c", problem: `":" not allowed in a bare reference`, expected: wantRef},
		{in: "bak:/test-vol/backup-1", problem: `missing "://" after scheme "bak"`, expected: wantBak},
		{in: "nfs:host:/path" + q, problem: `missing "://" after scheme "nfs"`, expected: "nfs://<server>:/<path>?backup=<backup>&volume=<volume>"},

		// Schemes.
		{in: "://x" + q, problem: "missing scheme", expected: wantRef},
		{in: "ftp://host/path" + q, problem: `unknown scheme "ftp"`, expected: wantRef},
		{in: "S3://bucket@region/path" + q, problem: `scheme "S3" must be lowercase "s3"`, expected: wantS3},
		{in: "BAK://test-vol/backup-1", problem: `scheme "BAK" must be lowercase "bak"`, expected: wantBak},

		// UI URLs.
		{in: "s3://bucket@region/path", problem: "missing query parameters backup and volume", expected: wantS3},
		{in: "s3://bucket@region/path?", problem: "missing query parameters backup and volume", expected: wantS3},
		{in: "s3://bucket@region/path?volume=test-vol", problem: `missing query parameter "backup"`, expected: wantS3},
		{in: "s3://bucket@region/path?backup=backup-1", problem: `missing query parameter "volume"`, expected: wantS3},
		{in: "s3://bucket@region/path" + q + "&versionId=3", problem: `unexpected query parameter "versionId"`, expected: wantS3},
		{in: "s3://bucket@region/path?backup=b1&backup=b2&volume=test-vol", problem: `repeated query parameter "backup"`, expected: wantS3},
		{in: "s3://bucket@region/path?backup&volume=test-vol", problem: `query parameter "backup" has no value`, expected: wantS3},
		{in: "s3://bucket@region/path?backup=&volume=test-vol", problem: `query parameter "backup" is empty`, expected: wantS3},
		{in: "s3://bucket@region/path?backup=backup-1&&volume=test-vol", problem: `empty query parameter (stray "&")`, expected: wantS3},
		{in: "s3://bucket@region/path?=x" + strings.TrimPrefix(q, "?"), problem: `query parameter "=xbackup=backup-1" has no name`, expected: wantS3},
		{in: "s3://bucket@region/path?backup=Backup-1&volume=test-vol", problem: `backup name "Backup-1" has uppercase letters`, expected: wantS3},
		{in: "s3://bucket@region/path?backup=backup-1&volume=t", problem: `volume name "t" must be 2 to 40 characters long (is 1)`, expected: wantS3},
		{in: "s3://bucket@region/path?backup=backup%2D1&volume=test-vol", problem: `percent-encoded character "%2D" not allowed`, expected: wantS3},
		{in: "s3://bucket@region/path" + q + "#top", problem: `fragment "#top" not allowed`, expected: wantS3},
		{in: "s3://bucket/path" + q, problem: `s3 host "bucket" is not <bucket>@<region>`, expected: wantS3},
		{in: "s3://@region/path" + q, problem: `s3 host "@region" is not <bucket>@<region>`, expected: wantS3},
		{in: "s3:///path" + q, problem: "missing backupstore host", expected: wantS3},
		{in: "nfs://" + q, problem: "missing backupstore host", expected: "nfs://<server>:/<path>?backup=<backup>&volume=<volume>"},
		{in: "vfs://host/path" + q, problem: `unexpected host "host" (a vfs URL has three slashes: vfs:///<path>)`, expected: "vfs:///<path>?backup=<backup>&volume=<volume>"},
		{in: "file:///" + q, problem: "missing backupstore path", expected: "file:///<path>?backup=<backup>&volume=<volume>"},
		{in: "file:///srv/../etc" + q, problem: `relative path part ".." in backupstore path`, expected: "file:///<path>?backup=<backup>&volume=<volume>"},
		{in: "s3://bucket@region/a/./b" + q, problem: `relative path part "." in backupstore path`, expected: wantS3},
		{in: "s3://bucket@region/path" + q + "\n", problem: `control character '\n' at offset 55`, expected: wantS3},
	}
}

func TestParseReference(t *testing.T) {
	t.Parallel()
	for _, tc := range referenceCases() {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseReference(tc.in)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("ParseReference(%q) = %v, want accepted", tc.in, err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ParseReference(%q) (-want +got):\n%s", tc.in, diff)
				}
				return
			}
			want := &HandleError{Value: tc.in, Problem: tc.problem, Expected: tc.expected}
			var he *HandleError
			if !errors.As(err, &he) {
				t.Fatalf("ParseReference(%q) = %+v, %v; want *HandleError %v", tc.in, got, err, want)
			}
			if diff := cmp.Diff(want, he); diff != "" {
				t.Errorf("ParseReference(%q) error (-want +got):\n%s", tc.in, diff)
			}
			if got != (Reference{}) {
				t.Errorf("ParseReference(%q) returned %+v with an error, want the zero Reference", tc.in, got)
			}
		})
	}
}

func TestReferenceHandle(t *testing.T) {
	t.Parallel()
	for _, tc := range referenceCases() {
		if tc.problem == "" {
			checkReferenceRoundTrip(t, tc.in)
		}
	}
	r, err := ParseReference("s3://backupbucket@us-east-1/?backup=backup-1&volume=test-vol")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Handle(), "bak://test-vol/backup-1"; got != want {
		t.Errorf("Handle() = %q, want %q", got, want)
	}
}

// checkReferenceRoundTrip checks that an accepted reference's Handle parses back to the
// same volume and backup, and that its Backupstore plus the query gives the reference back.
func checkReferenceRoundTrip(t *testing.T, in string) {
	t.Helper()
	r, err := ParseReference(in)
	if err != nil {
		return
	}
	for _, s := range []string{r.Handle(), r.Volume, r.Backup, r.Backupstore} {
		if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) || r > unicode.MaxASCII }) >= 0 {
			t.Fatalf("ParseReference(%q) = %+v has control, space or non-ASCII characters", in, r)
		}
	}
	h, err := ParseHandle(r.Handle())
	if err != nil {
		t.Fatalf("ParseReference(%q).Handle() = %q does not parse: %v", in, r.Handle(), err)
	}
	if h.Kind != KindBackup || h.Volume != r.Volume || h.Name != r.Backup {
		t.Fatalf("ParseReference(%q).Handle() parses to %+v", in, h)
	}
	if r.Backupstore == "" {
		return
	}
	again, err := ParseReference(r.Backupstore + "?backup=" + r.Backup + "&volume=" + r.Volume)
	if err != nil {
		t.Fatalf("backupstore %q of %q does not make a reference again: %v", r.Backupstore, in, err)
	}
	if diff := cmp.Diff(r, again); diff != "" {
		t.Fatalf("round trip of %q (-want +got):\n%s", in, diff)
	}
}

// FuzzParseReference checks that no input panics, that an accepted reference round-trips
// through Handle and Backupstore, and that the error text has no control characters.
func FuzzParseReference(f *testing.F) {
	for _, tc := range referenceCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		_, err := ParseReference(in)
		if err != nil {
			var he *HandleError
			if !errors.As(err, &he) || he.Value != in || he.Problem == "" || he.Expected == "" {
				t.Fatalf("ParseReference(%q) error %#v is not a complete *HandleError", in, err)
			}
			if strings.IndexFunc(err.Error(), unicode.IsControl) >= 0 {
				t.Fatalf("ParseReference(%q) error %q has control characters", in, err.Error())
			}
			return
		}
		checkReferenceRoundTrip(t, in)
	})
}
