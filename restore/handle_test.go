package restore

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
)

// Expected forms, spelled out so a change to the messages users read fails a test.
const (
	wantBak  = "bak://<volume>/<backup>"
	wantBs   = "bs://<volume>/<backup>"
	wantSnap = "snap://<volume>/<snapshot>"
	wantBi   = "bi://backing?backingImage=<name>&backingImageDataSourceType=<type>[&export-type=raw|qcow2][&volume-name=<volume>]"
	wantAny  = wantBak + ", " + wantSnap + " or " + wantBi
	wantRef  = "bak://<volume>/<backup>, <volume>/<backup> or a Longhorn backup URL <backupstore>?backup=<backup>&volume=<volume>"
	wantBare = "<volume>/<backup>"
	wantS3   = "s3://<bucket>@<region>/<path>?backup=<backup>&volume=<volume>"
)

type handleCase struct {
	in       string
	want     Handle
	problem  string // "" when in is accepted
	expected string
}

func handleCases() []handleCase {
	const bi = "bi://backing?"
	return []handleCase{
		// Accepted.
		{in: "bak://test-vol/backup-1", want: Handle{Kind: KindBackup, Volume: "test-vol", Name: "backup-1"}},
		{in: "bs://test-vol/backup-1", want: Handle{Kind: KindBackup, Legacy: true, Volume: "test-vol", Name: "backup-1"}},
		{in: "snap://test-vol/snapshot-0a1b", want: Handle{Kind: KindSnapshot, Volume: "test-vol", Name: "snapshot-0a1b"}},
		{in: "bak://v1/b_1.x-2", want: Handle{Kind: KindBackup, Volume: "v1", Name: "b_1.x-2"}},
		{in: "bak://" + strings.Repeat("a", 40) + "/backup-1", want: Handle{Kind: KindBackup, Volume: strings.Repeat("a", 40), Name: "backup-1"}},
		{in: "snap://pvc-3f0c/1a", want: Handle{Kind: KindSnapshot, Volume: "pvc-3f0c", Name: "1a"}},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=export-from-volume&export-type=qcow2&volume-name=test-vol",
			want: Handle{Kind: KindBackingImage, BackingImage: "bi-1", DataSourceType: "export-from-volume", ExportType: "qcow2", VolumeName: "test-vol"}},
		{in: bi + "backingImageDataSourceType=download&backingImage=bi-1",
			want: Handle{Kind: KindBackingImage, BackingImage: "bi-1", DataSourceType: "download"}},
		{in: bi + "volume-name=src-vol&export-type=raw&backingImageDataSourceType=export-from-volume&backingImage=img.v2",
			want: Handle{Kind: KindBackingImage, BackingImage: "img.v2", DataSourceType: "export-from-volume", ExportType: "raw", VolumeName: "src-vol"}},

		// Scheme.
		{in: "", problem: "empty value", expected: wantAny},
		{in: "test-vol/backup-1", problem: "missing scheme", expected: wantAny},
		{in: "://test-vol/backup-1", problem: "missing scheme", expected: wantAny},
		{in: "bak:/test-vol/backup-1", problem: `missing "://" after scheme "bak"`, expected: wantBak},
		{in: "snap:test-vol/s1", problem: `missing "://" after scheme "snap"`, expected: wantSnap},
		{in: "BAK://test-vol/backup-1", problem: `scheme "BAK" must be lowercase "bak"`, expected: wantBak},
		{in: "Bs://test-vol/backup-1", problem: `scheme "Bs" must be lowercase "bs"`, expected: wantBs},
		{in: "SNAP://test-vol/s1", problem: `scheme "SNAP" must be lowercase "snap"`, expected: wantSnap},
		{in: "Bi://backing?backingImage=x1", problem: `scheme "Bi" must be lowercase "bi"`, expected: wantBi},
		{in: "backup://test-vol/backup-1", problem: `unknown scheme "backup"`, expected: wantAny},
		{in: "s3://bucket@region/?backup=backup-1&volume=test-vol", problem: `unknown scheme "s3"`, expected: wantAny},

		// Missing or empty parts.
		{in: "bak://test-vol", problem: "missing backup name", expected: wantBak},
		{in: "bak://test-vol/", problem: "missing backup name", expected: wantBak},
		{in: "snap://test-vol", problem: "missing snapshot name", expected: wantSnap},
		{in: "bs://test-vol/", problem: "missing backup name", expected: wantBs},
		{in: "bak:///backup-1", problem: "missing volume name", expected: wantBak},
		{in: "bak://", problem: "missing volume name and backup name", expected: wantBak},
		{in: "snap://", problem: "missing volume name and snapshot name", expected: wantSnap},
		{in: "bak://test-vol//backup-1", problem: "empty path segment after volume name", expected: wantBak},

		// Extra path, query, fragment, percent-encoding.
		{in: "bak://test-vol/backup-1/extra", problem: `extra path "/extra" after backup name`, expected: wantBak},
		{in: "bak://test-vol/backup-1/", problem: `extra path "/" after backup name`, expected: wantBak},
		{in: "snap://test-vol/s1/a/b", problem: `extra path "/a/b" after snapshot name`, expected: wantSnap},
		{in: "bak://test-vol/backup-1?backup=x", problem: `query string "?backup=x" not allowed`, expected: wantBak},
		{in: "bs://test-vol/backup-1?", problem: `query string "?" not allowed`, expected: wantBs},
		{in: "bak://test-vol/backup-1#frag", problem: `fragment "#frag" not allowed`, expected: wantBak},
		{in: "bak://test-vol%2Fbackup-1", problem: `percent-encoded character "%2F" not allowed`, expected: wantBak},
		{in: "bak://test-vol/backup-1%", problem: `percent-encoded character "%" not allowed`, expected: wantBak},

		// Characters.
		{in: "bak://test-vol/backup 1", problem: `whitespace ' ' at offset 21`, expected: wantBak},
		{in: "bak://test-vol/backup-1\n", problem: `control character '\n' at offset 23`, expected: wantBak},
		{in: " bak://test-vol/backup-1", problem: `whitespace ' ' at offset 0`, expected: wantAny},
		{in: "bak://test-vol/\x00backup", problem: `control character '\x00' at offset 15`, expected: wantBak},
		{in: "bak://test-vol/backup\x7f", problem: `control character '\x7f' at offset 21`, expected: wantBak},
		{in: "bak://test-vol/backup-1\u00a0", problem: `whitespace '\u00a0' at offset 23`, expected: wantBak},
		{in: "bak://test-vol/backup-1\u200b", problem: `non-ASCII character '\u200b' at offset 23`, expected: wantBak},
		{in: "bak://test-vol/bäckup", problem: `non-ASCII character 'ä' at offset 16`, expected: wantBak},
		{in: "bak://test-vol/backup\xff", problem: `invalid UTF-8 byte 0xff at offset 21`, expected: wantBak},
		{in: "snap://test-vol/s1\t", problem: `control character '\t' at offset 18`, expected: wantSnap},

		// Relative parts and names.
		{in: "bak://../backup-1", problem: `relative path part ".." not allowed`, expected: wantBak},
		{in: "bak://test-vol/.", problem: `relative path part "." not allowed`, expected: wantBak},
		{in: "snap://test-vol/..", problem: `relative path part ".." not allowed`, expected: wantSnap},
		{in: "bak://Test-Vol/backup-1", problem: `volume name "Test-Vol" has uppercase letters`, expected: wantBak},
		{in: "bak://test-vol/Backup-1", problem: `backup name "Backup-1" has uppercase letters`, expected: wantBak},
		{in: "bak://v/backup-1", problem: `volume name "v" must be 2 to 40 characters long (is 1)`, expected: wantBak},
		{in: "bak://" + strings.Repeat("a", 41) + "/backup-1", problem: `volume name "` + strings.Repeat("a", 41) + `" must be 2 to 40 characters long (is 41)`, expected: wantBak},
		{in: "bak://-vol/backup-1", problem: `volume name "-vol" is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)`, expected: wantBak},
		{in: "bak://vol-/backup-1", problem: `volume name "vol-" is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)`, expected: wantBak},
		{in: "bak://test_vol/backup-1", problem: `volume name "test_vol" is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)`, expected: wantBak},
		{in: "bak://test.vol/backup-1", problem: `volume name "test.vol" is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)`, expected: wantBak},
		{in: "bak://test-vol/-backup", problem: `backup name "-backup" must match ^[a-z0-9][a-z0-9_.-]+$ (at least 2 characters)`, expected: wantBak},
		{in: "bak://test-vol/b", problem: `backup name "b" must match ^[a-z0-9][a-z0-9_.-]+$ (at least 2 characters)`, expected: wantBak},
		{in: "snap://test-vol/s@1", problem: `snapshot name "s@1" must match ^[a-z0-9][a-z0-9_.-]+$ (at least 2 characters)`, expected: wantSnap},
		{in: "bak://test-vol/backup:1", problem: `backup name "backup:1" must match ^[a-z0-9][a-z0-9_.-]+$ (at least 2 characters)`, expected: wantBak},

		// bi.
		{in: "bi://", problem: `missing host "backing"`, expected: wantBi},
		{in: "bi:///?backingImage=bi-1", problem: `missing host "backing"`, expected: wantBi},
		{in: "bi://backing", problem: "missing query parameters backingImage and backingImageDataSourceType", expected: wantBi},
		{in: "bi://backing?", problem: "missing query parameters backingImage and backingImageDataSourceType", expected: wantBi},
		{in: "bi://other?backingImage=bi-1&backingImageDataSourceType=download", problem: `host "other" must be "backing"`, expected: wantBi},
		{in: "bi://Backing?backingImage=bi-1&backingImageDataSourceType=download", problem: `host "Backing" must be "backing"`, expected: wantBi},
		{in: "bi://backing/?backingImage=bi-1&backingImageDataSourceType=download", problem: `unexpected path "/" after host`, expected: wantBi},
		{in: bi + "backingImage=bi-1", problem: "missing query parameter backingImageDataSourceType", expected: wantBi},
		{in: bi + "backingImageDataSourceType=download", problem: "missing query parameter backingImage", expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImage=bi-2&backingImageDataSourceType=download", problem: `repeated query parameter "backingImage"`, expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=download&export-type=raw&export-type=raw", problem: `repeated query parameter "export-type"`, expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=download&url=x", problem: `unknown query parameter "url"`, expected: wantBi},
		{in: bi + "backingimage=bi-1&backingImageDataSourceType=download", problem: `unknown query parameter "backingimage"`, expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=download&export-type=vmdk", problem: `export-type "vmdk" is not raw or qcow2`, expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=download&export-type=QCOW2", problem: `export-type "QCOW2" is not raw or qcow2`, expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=ftp", problem: `backingImageDataSourceType "ftp" is not one of download, upload, export-from-volume, restore, clone`, expected: wantBi},
		{in: bi + "backingImage=bi-1&&backingImageDataSourceType=download", problem: `empty query parameter (stray "&")`, expected: wantBi},
		{in: bi + "backingImage&backingImageDataSourceType=download", problem: `query parameter "backingImage" has no value`, expected: wantBi},
		{in: bi + "backingImage=&backingImageDataSourceType=download", problem: `query parameter "backingImage" is empty`, expected: wantBi},
		{in: bi + "backingImage=BI&backingImageDataSourceType=download", problem: `backing image name "BI" has uppercase letters`, expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=export-from-volume&volume-name=x", problem: `volume-name "x" must be 2 to 40 characters long (is 1)`, expected: wantBi},
		{in: bi + "backingImage=bi%2D1&backingImageDataSourceType=download", problem: `percent-encoded character "%2D" not allowed`, expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=download#x", problem: `fragment "#x" not allowed`, expected: wantBi},
		{in: bi + "backingImage=..&backingImageDataSourceType=download", problem: `backing image name ".." is a relative path part`, expected: wantBi},
		{in: bi + "backingImage=bi-1&backingImageDataSourceType=download&", problem: `empty query parameter (stray "&")`, expected: wantBi},
	}
}

func TestParseHandle(t *testing.T) {
	t.Parallel()
	for _, tc := range handleCases() {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseHandle(tc.in)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("ParseHandle(%q) = %v, want accepted", tc.in, err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ParseHandle(%q) (-want +got):\n%s", tc.in, diff)
				}
				return
			}
			want := &HandleError{Value: tc.in, Problem: tc.problem, Expected: tc.expected}
			var he *HandleError
			if !errors.As(err, &he) {
				t.Fatalf("ParseHandle(%q) = %+v, %v; want *HandleError %v", tc.in, got, err, want)
			}
			if diff := cmp.Diff(want, he); diff != "" {
				t.Errorf("ParseHandle(%q) error (-want +got):\n%s", tc.in, diff)
			}
			if got != (Handle{}) {
				t.Errorf("ParseHandle(%q) returned %+v with an error, want the zero Handle", tc.in, got)
			}
		})
	}
}

func TestHandleErrorMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"bak://test-vol", `"bak://test-vol": missing backup name; expected bak://<volume>/<backup>`},
		{"bak://test-vol/backup-1\r\n", `"bak://test-vol/backup-1\r\n": control character '\r' at offset 23; expected bak://<volume>/<backup>`},
		{"BS://v1/b1", `"BS://v1/b1": scheme "BS" must be lowercase "bs"; expected bs://<volume>/<backup>`},
	} {
		_, err := ParseHandle(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseHandle(%q) error = %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestHandleString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"bak://test-vol/backup-1", "bak://test-vol/backup-1"},
		{"bs://test-vol/backup-1", "bak://test-vol/backup-1"},
		{"snap://test-vol/s1", "snap://test-vol/s1"},
		{"bi://backing?volume-name=src-vol&backingImageDataSourceType=export-from-volume&backingImage=bi-1",
			"bi://backing?backingImage=bi-1&backingImageDataSourceType=export-from-volume&volume-name=src-vol"},
		{"bi://backing?export-type=qcow2&backingImageDataSourceType=export-from-volume&backingImage=bi-1",
			"bi://backing?backingImage=bi-1&backingImageDataSourceType=export-from-volume&export-type=qcow2"},
	} {
		h, err := ParseHandle(tc.in)
		if err != nil {
			t.Fatalf("ParseHandle(%q): %v", tc.in, err)
		}
		if got := h.String(); got != tc.want {
			t.Errorf("ParseHandle(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := (Handle{}).String(); got != "" {
		t.Errorf("zero Handle String() = %q, want empty", got)
	}
}

// TestHandleRoundTrip checks ParseHandle(h.String()) == h for every accepted case, with
// Legacy dropped because String writes bs:// as bak://.
func TestHandleRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range handleCases() {
		if tc.problem != "" {
			continue
		}
		checkHandleRoundTrip(t, tc.in)
	}
}

func checkHandleRoundTrip(t *testing.T, in string) {
	t.Helper()
	h, err := ParseHandle(in)
	if err != nil {
		return
	}
	s := h.String()
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) || r > unicode.MaxASCII }) >= 0 {
		t.Fatalf("ParseHandle(%q).String() = %q has control, space or non-ASCII characters", in, s)
	}
	again, err := ParseHandle(s)
	if err != nil {
		t.Fatalf("ParseHandle(%q).String() = %q does not parse: %v", in, s, err)
	}
	want := h
	want.Legacy = false
	if diff := cmp.Diff(want, again); diff != "" {
		t.Fatalf("round trip of %q through %q (-want +got):\n%s", in, s, diff)
	}
	if h.Legacy && (h.Kind != KindBackup || !strings.HasPrefix(in, "bs://")) {
		t.Fatalf("ParseHandle(%q) sets Legacy on a %s handle", in, h.Kind)
	}
}

// FuzzParseHandle checks that no input panics, that an accepted handle round-trips through
// String, and that neither the canonical form nor the error text carries control characters.
func FuzzParseHandle(f *testing.F) {
	for _, tc := range handleCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		_, err := ParseHandle(in)
		if err != nil {
			var he *HandleError
			if !errors.As(err, &he) || he.Value != in || he.Problem == "" || he.Expected == "" {
				t.Fatalf("ParseHandle(%q) error %#v is not a complete *HandleError", in, err)
			}
			if strings.IndexFunc(err.Error(), unicode.IsControl) >= 0 {
				t.Fatalf("ParseHandle(%q) error %q has control characters", in, err.Error())
			}
			return
		}
		checkHandleRoundTrip(t, in)
	})
}
