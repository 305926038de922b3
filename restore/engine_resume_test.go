package restore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/snaprestore/snaprestore/test/testenv"
)

const (
	envChildStore  = "SNAPRESTORE_TEST_CHILD_STORE"
	envChildTarget = "SNAPRESTORE_TEST_CHILD_TARGET"
	childStopAt    = 70 // blocks restored before the child stops and waits to be killed
)

// TestResumeChild is the restore that TestResumeAfterKill kills: it runs only
// in the re-executed test binary.
func TestResumeChild(t *testing.T) {
	storeURL, target := os.Getenv(envChildStore), os.Getenv(envChildTarget)
	if storeURL == "" {
		return // not the child
	}
	st, err := OpenStore(storeURL, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	durable64 := make(chan struct{}) // closed once the record lists 64 objects durably
	var once sync.Once
	_, err = Restore(context.Background(), st.Store, "vol-kill", "backup-kill", target, Options{
		Concurrency: 1,
		onRecordFlush: func(n int) {
			if n >= 64 {
				once.Do(func() { close(durable64) })
			}
		},
		Progress: func(p Progress) {
			if p.Blocks == childStopAt {
				// The flusher records 64 objects in the background; wait until
				// they are durable, so the resume has work to skip.
				<-durable64
				fmt.Println("stopped")
				<-stop // wait for SIGKILL
			}
		},
	})
	t.Fatalf("child restore returned (%v); it should have been killed", err)
}

func TestResumeAfterKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFileStore(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "src.img")
	extents := map[int64]int{}
	for i := range int64(90) {
		extents[i*2<<20+int64(i)*512] = 4096 // 90 distinct blocks
	}
	writeImage(t, img, 200<<20, 3, extents)
	if _, err := WriteBackup(ctx, st, BackupOptions{Volume: "vol-kill", Image: img, Backup: "backup-kill"}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "restored.img")

	child := exec.Command(os.Args[0], "-test.run=^TestResumeChild$", "-test.count=1")
	child.Env = append(os.Environ(), envChildStore+"="+st.URL, envChildTarget+"="+target)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "stopped") {
	}
	child.Process.Kill() // SIGKILL: no cleanup runs
	child.Wait()

	if _, err := Restore(ctx, st.Store, "vol-kill", "backup-kill", target, Options{}); err == nil ||
		!strings.Contains(err.Error(), "add --resume to continue it or --force to start over") {
		t.Fatalf("restore over an interrupted one = %v; want a refusal naming --resume", err)
	}
	sum, err := Restore(ctx, st.Store, "vol-kill", "backup-kill", target, Options{Resume: true})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if sum.Resumed < 64 || sum.Resumed+sum.Objects != 90 {
		t.Errorf("resume summary %+v; want at least 64 objects taken from the record and 90 in all", sum)
	}
	if got, want := testenv.FileSHA256(t, target), testenv.FileSHA256(t, img); got != want {
		t.Errorf("resumed image differs from the source image")
	}
	if _, err := os.Stat(target + RecordSuffix); !os.IsNotExist(err) {
		t.Errorf("progress record left after the resumed restore: %v", err)
	}
}

func TestResumeWithoutTarget(t *testing.T) {
	t.Parallel()
	st := fixtureStore(t, "gzip-single")
	dir := t.TempDir()
	target := filepath.Join(dir, "image")
	// A record of an interrupted restore whose image was deleted since: the
	// listed block must be restored again, not skipped.
	hdr := `{"version":1,"backup":"bak://vol-gzip/backup-5b2e8d1f0c4a9367","volumeSize":33554432,"blockSize":2097152}` + "\n" +
		"27fcb8a5e7aa642782f69015a96be64c52b28201c7954cd91d3f205de1dffbcb\n"
	if err := os.WriteFile(target+RecordSuffix, []byte(hdr), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := Restore(context.Background(), st.Store, "vol-gzip", "backup-5b2e8d1f0c4a9367", target, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Resumed != 0 || sum.Objects != 4 {
		t.Errorf("summary %+v; want all 4 objects restored", sum)
	}
	if got, want := testenv.FileSHA256(t, target), "4e90e706e2a273f7a2e0c03b0a5f987c36d6fb740ad5eaeac722b9192f763a16"; got != want {
		t.Errorf("sha256 %s; want %s", got, want)
	}
}
