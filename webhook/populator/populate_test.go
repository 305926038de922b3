package populator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

const (
	gzipBackup = "bak://vol-gzip/backup-5b2e8d1f0c4a9367"
	gzipSHA    = "4e90e706e2a273f7a2e0c03b0a5f987c36d6fb740ad5eaeac722b9192f763a16"
)

func gzipStore(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "..", "restore", "testdata", "longhorn-backupstore", "gzip-single"))
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + abs
}

// populateBlock runs a Block populate of the gzip fixture with resume record
// rec onto an image file that an earlier pod left: the whole image when
// earlier is set, else garbage. It writes the result as runPopulate does and
// returns it, the termination file's content and the log lines.
func populateBlock(t *testing.T, rec string, earlier bool) (Result, string, []string) {
	t.Helper()
	dir := t.TempDir()
	device, term := filepath.Join(dir, "device"), filepath.Join(dir, "termination-log")
	if earlier {
		st, err := restore.OpenStore(gzipStore(t), restore.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := restore.Restore(context.Background(), st.Store, "vol-gzip", "backup-5b2e8d1f0c4a9367", device, restore.Options{}); err != nil {
			t.Fatal(err)
		}
	} else if err := os.WriteFile(device, []byte(strings.Repeat("garbage!", 4<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The kubelet's termination file exists, and an older, longer document in
	// it must not survive the in-place rewrites.
	if err := os.WriteFile(term, []byte(strings.Repeat("x", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs []string
	res, err := Populate(context.Background(), PopulateOptions{Backup: gzipBackup, Backupstore: gzipStore(t), Device: device,
		ResultFile: term, ResumeRecord: rec, Getenv: func(string) string { return "" },
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatalf("populate: %v", err)
	}
	if err := WriteResult(term, res); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(device + restore.RecordSuffix); !os.IsNotExist(err) {
		t.Errorf("a progress record beside the device: %v", err)
	}
	if got := testenv.FileSHA256(t, device); got != gzipSHA {
		t.Errorf("image sha256 %s; want %s", got, gzipSHA)
	}
	b, err := os.ReadFile(term)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b), logs
}

// TestPopulateResumeRecord: the Block populate resumes from a record of the
// same restore; a record of another backup, or a torn one, is ignored with a
// log line and everything is restored; never anything beside the device.
func TestPopulateResumeRecord(t *testing.T) {
	t.Parallel()
	hdr := restore.RecordHeader{Version: 1, Backup: gzipBackup, VolumeSize: 32 << 20, BlockSize: 2 << 20}
	three, _ := restore.EncodeRecord(hdr, []bool{true, false, true, true}, RecordBudget)
	hdr.Backup = "bak://vol-gzip/backup-other"
	foreign, _ := restore.EncodeRecord(hdr, []bool{true, true, true, true}, RecordBudget)
	for _, tc := range []struct {
		name    string
		rec     string
		resumed int
		log     string
	}{
		{name: "no record"},
		{name: "record of this restore", rec: three, resumed: 3, log: "resumed: 3 of 4 block objects were restored by an earlier pod"},
		{name: "record of another backup", rec: foreign,
			log: "ignoring the resume record, restoring from the first block: the resume record belongs to a restore of bak://vol-gzip/backup-other"},
		{name: "torn record", rec: three[:len(three)-6], log: "ignoring the resume record, restoring from the first block: not a valid resume record: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, term, logs := populateBlock(t, tc.rec, tc.resumed > 0)
			if !res.Succeeded || res.Resumed != tc.resumed || res.InProgress || res.ResumeRecord != "" {
				t.Errorf("result %+v; want success with %d resumed and no record", res, tc.resumed)
			}
			got, ok := ParseResult(term)
			if !ok || got != res || strings.Contains(term, "x") {
				t.Errorf("termination file %q; want exactly the final result %+v", term, res)
			}
			if all := strings.Join(logs, "\n"); tc.log == "" && all != "" || !strings.Contains(all, tc.log) {
				t.Errorf("log %q; want %q", all, tc.log)
			}
		})
	}
}

func TestWriteResultInPlace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "termination-log")
	long := Result{InProgress: true, Message: strings.Repeat("é", 3000), ResumeRecord: "sr1." + strings.Repeat("A", RecordBudget-4)}
	if err := WriteResult(path, long); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got, ok := ParseResult(string(b))
	if len(b) > 4000 || !ok || got.ResumeRecord != long.ResumeRecord || !strings.HasSuffix(got.Message, "…") {
		t.Errorf("%d bytes, parsed %v, record kept %v; want at most 4000 bytes, the record whole and the message shortened", len(b), ok, got.ResumeRecord == long.ResumeRecord)
	}
	if err := WriteResult(path, Result{Succeeded: true, Message: "done"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"succeeded":true,"message":"done"}` {
		t.Errorf("rewritten file %q; want only the new document", b)
	}
	// A kill between the write and the truncation: the old tail is ignored.
	if r, ok := ParseResult(`{"succeeded":true,"message":"done"}` + `ess":true,"resumeRecord":"sr1.x"}`); !ok || r.Message != "done" || r.ResumeRecord != "" {
		t.Errorf("parsed %+v, %v; want the first document", r, ok)
	}
}

// TestWriteResultOversized: a document too long even without its message
// (never written by populate, whose record has a budget) is still written,
// its message cut to "…" so that it parses; the shortening ends.
func TestWriteResultOversized(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "termination-log")
	huge := Result{InProgress: true, Message: "restoring", ResumeRecord: "sr1." + strings.Repeat("A", 4500)}
	if err := WriteResult(path, huge); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got, ok := ParseResult(string(b)); !ok || got.Message != "…" || got.ResumeRecord != huge.ResumeRecord {
		t.Errorf("parsed %v, message %q; want the document with the message \"…\" and the record whole", ok, got.Message)
	}
}

// TestPopulateUnwritableResultFile: a termination file that cannot be written
// costs the resume record (logged once), not the restore.
func TestPopulateUnwritableResultFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var logs []string
	res, err := Populate(context.Background(), PopulateOptions{Backup: gzipBackup, Backupstore: gzipStore(t), Device: filepath.Join(dir, "device"),
		ResultFile: filepath.Join(dir, "missing", "termination-log"), Getenv: func(string) string { return "" },
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil || !res.Succeeded {
		t.Fatalf("populate = %+v, %v; want success", res, err)
	}
	if len(logs) != 1 || !strings.HasPrefix(logs[0], "cannot publish the resume record, a retried pod would start over: write result ") {
		t.Errorf("log %q; want one line saying the record cannot be published", logs)
	}
}
