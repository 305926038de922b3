package populator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// PopulateOptions are the flags of `snaprestore populate`, run inside the
// populator pod the controller creates.
type PopulateOptions struct {
	// Backup is the backup reference (--backup), docs/handles.md grammar.
	Backup string
	// Backupstore is the backupstore URL (--backupstore); default: the
	// BACKUPSTORE environment variable (from a backupstore Secret), else
	// SNAPRESTORE_DEFAULT_BACKUPSTORE (the release's, set by the controller).
	Backupstore string
	// Device is the block device to write the image to (--device).
	Device string
	// Dir is the mounted Filesystem-mode volume to copy the files to (--dir).
	Dir string
	// ResultFile receives the Result as JSON (--result-file); default
	// /dev/termination-log, which the kubelet turns into the container's
	// termination message for the controller.
	ResultFile string
	// Concurrency of the restore engine; 0 = engine default.
	Concurrency int
	// ResumeRecord is the compact progress record an earlier, interrupted pod
	// of the same volume published (--resume-record); default: the
	// SNAPRESTORE_RESUME_RECORD environment variable, which the controller sets.
	// A record that does not decode or names another restore is ignored
	// (logged) and the restore starts from the first block. Block mode only.
	ResumeRecord string
	// Logf receives the lines a user should see in the pod's log. Default: none.
	Logf func(format string, args ...any)
	// Getenv reads BACKUPSTORE and the S3 settings. Default os.Getenv.
	Getenv func(string) string
	// Progress, when set, receives the engine's progress.
	Progress func(restore.Progress)
}

// DefaultResultFile is the kubelet's default terminationMessagePath.
const DefaultResultFile = "/dev/termination-log"

// SetDefaults fills the documented defaults.
func (o *PopulateOptions) SetDefaults() {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Backupstore == "" {
		o.Backupstore = o.Getenv(EnvBackupstore)
	}
	if o.Backupstore == "" {
		o.Backupstore = o.Getenv(EnvDefaultBackupstore)
	}
	if o.ResultFile == "" {
		o.ResultFile = DefaultResultFile
	}
	if o.ResumeRecord == "" {
		o.ResumeRecord = o.Getenv(EnvResumeRecord)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// EnvResumeRecord carries the resume record to the populator pod.
const EnvResumeRecord = "SNAPRESTORE_RESUME_RECORD"

// RecordBudget bounds the resume record in characters, so that the whole
// progress document stays under the kubelet's 4096-byte termination message
// (WriteResult shortens the message, never the record).
const RecordBudget = 2048

// Validate reports a missing or conflicting flag.
func (o *PopulateOptions) Validate() error {
	var errs []error
	if o.Backup == "" {
		errs = append(errs, errors.New("--backup is required: the backup reference (bak://<volume>/<backup>)"))
	}
	if (o.Device == "") == (o.Dir == "") {
		errs = append(errs, fmt.Errorf("--device %q, --dir %q: expected exactly one target, the block device or the mounted directory", o.Device, o.Dir))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("--concurrency %d: expected a positive number", o.Concurrency))
	}
	return errors.Join(errs...)
}

// Result is what `snaprestore populate` reports to the controller in its
// termination message (JSON, well below the kubelet's 4 KiB limit).
type Result struct {
	// Succeeded: the image is written, verified block by block and synced.
	Succeeded bool `json:"succeeded"`
	// Permanent: the failure cannot go away by retrying (a damaged or missing
	// backup, a bad reference); the controller stops retrying.
	Permanent bool `json:"permanent,omitempty"`
	// Message is the summary or the error, naming the block offset for a
	// damaged block.
	Message    string `json:"message"`
	Backup     string `json:"backup,omitempty"`
	VolumeSize int64  `json:"volumeSize,omitempty"`
	Bytes      int64  `json:"bytes,omitempty"`
	// Resumed counts what an earlier, interrupted pod had already written
	// and this one kept: block objects (Block) or files (Filesystem).
	Resumed int `json:"resumed,omitempty"`
	// InProgress marks a progress document: the pod is still restoring, or
	// was killed while it did. A final Result never has it.
	InProgress bool `json:"inProgress,omitempty"`
	// ResumeRecord is the compact record of the block objects written and
	// synced so far (restore.DecodeRecord), in progress documents and in the
	// Result of a failure; the next pod resumes from it.
	ResumeRecord string `json:"resumeRecord,omitempty"`
}

// ExitPermanent is the exit status of a populate whose failure is permanent;
// any other failure exits 1.
const ExitPermanent = 2

// Populate restores o.Backup onto the target and returns the Result to
// report; the error is the failure itself (nil on success). Block targets are
// resumed from o.ResumeRecord (published by an earlier, interrupted pod on
// the same volume) and overwritten where it lists nothing; while the restore
// runs, each durable flush of the progress rewrites o.ResultFile with a
// progress document carrying the record, so a killed pod leaves it in its
// termination message. Nothing is written beside the device. Filesystem
// targets (populate_fs.go) resume the partial copy an earlier pod marked,
// keeping the files it completed.
func Populate(ctx context.Context, o PopulateOptions) (Result, error) {
	o.SetDefaults()
	fail := func(err error) (Result, error) {
		return Result{Message: err.Error(), Permanent: Permanent(err)}, err
	}
	ref, err := restore.ParseReference(o.Backup)
	if err != nil {
		return fail(fmt.Errorf("--backup: %w", err))
	}
	storeURL := o.Backupstore
	if ref.Backupstore != "" {
		storeURL = ref.Backupstore
	}
	if storeURL == "" {
		return fail(&restore.HandleError{Value: o.Backup, Problem: "no backupstore: the reference names none and neither --backupstore nor " + EnvBackupstore + " is set",
			Expected: "a BACKUPSTORE key in the backupstore Secret, or a Longhorn backup URL"})
	}
	st, err := restore.OpenStore(storeURL, restore.StoreOptions{Getenv: o.Getenv})
	if err != nil {
		return fail(err)
	}
	if o.Dir != "" {
		res, err := populateFiles(ctx, st, ref, o)
		if err != nil {
			return fail(err)
		}
		return res, nil
	}
	var warned bool
	store := restore.NewCompactStore(o.ResumeRecord, RecordBudget, func(p restore.CompactProgress) error {
		err := WriteResult(o.ResultFile, Result{InProgress: true, Backup: ref.Handle(), ResumeRecord: p.Record,
			Message: fmt.Sprintf("restoring %s: %d of %d block objects written and synced", ref.Handle(), p.Finished, p.Total)})
		if err != nil && !warned { // progress is for a retry; the restore itself goes on
			warned = true
			o.Logf("cannot publish the resume record, a retried pod would start over: %v", err)
		}
		return nil
	})
	sum, err := restore.Restore(ctx, st.Store, ref.Volume, ref.Backup, o.Device, restore.Options{
		Concurrency: o.Concurrency, BatchChecksums: true, Resume: true, Force: true, Progress: o.Progress, Record: store,
		RecordDiscarded: func(err error) { o.Logf("ignoring the resume record, restoring from the first block: %v", err) }})
	if err != nil {
		res, err := fail(fmt.Errorf("restore %s to %s: %w", ref.Handle(), o.Device, deviceAccess(err, o.Device, os.Geteuid())))
		res.ResumeRecord = store.Last()
		return res, err
	}
	if sum.Resumed > 0 {
		o.Logf("resumed: %d of %d block objects were restored by an earlier pod", sum.Resumed, sum.Resumed+sum.Objects)
	}
	msg := fmt.Sprintf("restored and verified %s: %d blocks, %d bytes in %s", sum.Backup, sum.Blocks, sum.Bytes, sum.Duration.Round(time.Millisecond))
	if sum.Resumed > 0 {
		msg += fmt.Sprintf(", resumed: %d block objects were restored before the interruption", sum.Resumed)
	}
	return Result{Succeeded: true, Backup: sum.Backup, VolumeSize: sum.VolumeSize, Bytes: sum.Bytes, Resumed: sum.Resumed, Message: msg}, nil
}

// ErrDeviceAccess: the pod's user may not open the block device. Retrying
// runs the same user against the same device, so it is permanent.
var ErrDeviceAccess = errors.New("the populator pod's user cannot write the block device")

// deviceAccess explains a permission error of the restore on device as
// ErrDeviceAccess, for the process's effective user euid; any other error (a
// backupstore file the user may not read included) is returned as it is.
func deviceAccess(err error, device string, euid int) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != device || !errors.Is(pe.Err, fs.ErrPermission) {
		return err
	}
	if euid == 0 {
		return fmt.Errorf("%w: %w (as root: the node or its security policy denies the device)", ErrDeviceAccess, err)
	}
	return fmt.Errorf("%w: %w (as user %d: a non-root Block pod, --populator-block-run-as-user or the chart's populator.block.runAsUser, needs nodes whose runtime gives the device to the pod's user, containerd or CRI-O with device_ownership_from_security_context = true; expected that, or 0 to run the pod as root)",
		ErrDeviceAccess, err, euid)
}

// Permanent reports whether a populate error is one retrying cannot fix.
func Permanent(err error) bool {
	var he *restore.HandleError
	for _, s := range []error{ErrDeviceAccess, backupstore.ErrChecksumMismatch, backupstore.ErrCorruptBlock, backupstore.ErrBlockMissing,
		backupstore.ErrInvalidConfig, backupstore.ErrUnsupportedCompression, backupstore.ErrInvalidName,
		backupstore.ErrVolumeNotFound, backupstore.ErrBackupNotFound} {
		if errors.Is(err, s) {
			return true
		}
	}
	for _, s := range permanentFS {
		if errors.Is(err, s) {
			return true
		}
	}
	return errors.As(err, &he)
}

// WriteResult writes r as JSON to path (the termination message file), in
// place: the kubelet bind-mounts the file, so a rename onto it would fail.
// The new document is written over the old one, then the file is cut to its
// length; a kill between the two leaves the old document's tail after a
// complete new one, which ParseResult ignores. The message is shortened to
// keep the document under 4000 bytes.
func WriteResult(path string, r Result) error {
	b, err := encodeResult(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("write result %s: %w", path, err)
	}
	if _, err = f.WriteAt(b, 0); err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write result %s: %w", path, err)
	}
	return nil
}

// encodeResult is r as JSON of at most 4000 bytes, the message shortened to fit.
func encodeResult(r Result) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	// Dropping over+8 runes drops at least over+8 bytes of JSON and "…" adds
	// 3, so one cut fits; a message too short to absorb it becomes "…" (still
	// a message, so the document parses) and the loop ends either way.
	for over := len(b) - 4000; over > 0 && r.Message != "…"; over = len(b) - 4000 {
		rs := []rune(r.Message)
		r.Message = string(rs[:max(0, len(rs)-over-8)]) + "…"
		b, _ = json.Marshal(r)
	}
	return b, nil
}

// ParseResult reads a termination message: a final Result or a progress
// document (InProgress). ok is false when it is neither (a pod killed before
// it wrote one, or the log tail the kubelet fell back to). Bytes after the
// first JSON value are ignored (see WriteResult).
func ParseResult(msg string) (Result, bool) {
	var r Result
	if msg == "" || json.NewDecoder(strings.NewReader(msg)).Decode(&r) != nil || r.Message == "" {
		return Result{}, false
	}
	return r, true
}
