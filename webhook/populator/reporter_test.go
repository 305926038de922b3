package populator

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/snaprestore/snaprestore/restore"
)

// recordingPatcher keeps the patches a Reporter sends; block, when set,
// holds each patch until it is closed.
type recordingPatcher struct {
	mu      sync.Mutex
	patches []map[string]string // the annotations of each patch, in order
	block   chan struct{}
	err     error
}

func (p *recordingPatcher) Patch(_ context.Context, ns, name string, patch []byte) error {
	if p.block != nil {
		<-p.block
	}
	var doc struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(patch, &doc); err != nil || ns != "snaprestore" || name != "populate-u1" {
		return errors.New("unexpected patch")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.patches = append(p.patches, doc.Metadata.Annotations)
	return p.err
}

func (p *recordingPatcher) sent() []map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]string(nil), p.patches...)
}

// TestReporterUpdate: progress goes out at most once per interval, and an
// update while a patch is in flight is dropped, never queued.
func TestReporterUpdate(t *testing.T) {
	p := &recordingPatcher{block: make(chan struct{})}
	r := &Reporter{pods: p, namespace: "snaprestore", name: "populate-u1", interval: time.Hour}
	ctx := context.Background()
	r.Update(ctx, restore.Progress{Bytes: 1, TotalBytes: 4})
	r.Update(ctx, restore.Progress{Bytes: 2, TotalBytes: 4}) // in flight and within the interval
	close(p.block)
	r.Wait()
	r.Update(ctx, restore.Progress{Bytes: 3, TotalBytes: 4}) // within the interval
	r.Wait()
	got := p.sent()
	if len(got) != 1 || got[0][AnnProgress] != "1/4" {
		t.Fatalf("patches %v; expected one, %s=1/4", got, AnnProgress)
	}
	r.interval = time.Nanosecond
	r.Update(ctx, restore.Progress{Bytes: 4, TotalBytes: 4})
	r.Wait()
	if got := p.sent(); len(got) != 2 || got[1][AnnProgress] != "4/4" {
		t.Fatalf("patches %v; expected a second, %s=4/4", got, AnnProgress)
	}
}

// TestReporterSucceeded: the success is published after the progress patch
// in flight, as the Result document the controller parses.
func TestReporterSucceeded(t *testing.T) {
	p := &recordingPatcher{block: make(chan struct{})}
	r := &Reporter{pods: p, namespace: "snaprestore", name: "populate-u1", interval: time.Hour}
	ctx := context.Background()
	r.Update(ctx, restore.Progress{Bytes: 4, TotalBytes: 4})
	res := Result{Succeeded: true, Message: "restored and verified bak://vol/backup-1", Bytes: 4}
	go close(p.block)
	if err := r.Succeeded(ctx, res); err != nil {
		t.Fatal(err)
	}
	got := p.sent()
	if len(got) != 2 || got[0][AnnProgress] != "4/4" {
		t.Fatalf("patches %v; expected the progress, then the result", got)
	}
	back, ok := ParseResult(got[1][AnnResult])
	if !ok || back != res {
		t.Fatalf("published %q; expected the Result %+v", got[1][AnnResult], res)
	}

	p.err = errors.New("forbidden")
	if err := r.Succeeded(ctx, res); err == nil || !errors.Is(err, p.err) {
		t.Fatalf("Succeeded with a failing patch: %v; expected the patch's error", err)
	}
}

// TestNewReporterWaitsAnInterval: the first progress goes out an interval
// after the reporter was made, not at the restore's first block.
func TestNewReporterWaitsAnInterval(t *testing.T) {
	r, err := NewReporter(&rest.Config{Host: "https://127.0.0.1:1"}, "snaprestore", "populate-u1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingPatcher{}
	r.pods = p
	r.Update(context.Background(), restore.Progress{Bytes: 1, TotalBytes: 4})
	r.Wait()
	if got := p.sent(); len(got) != 0 {
		t.Fatalf("patches %v at once; expected none before the interval", got)
	}
	r.last = r.last.Add(-time.Hour)
	r.Update(context.Background(), restore.Progress{Bytes: 2, TotalBytes: 4})
	r.Wait()
	if got := p.sent(); len(got) != 1 || got[0][AnnProgress] != "2/4" {
		t.Fatalf("patches %v an interval later; expected %s=2/4", got, AnnProgress)
	}
}

// blockingPatcher never answers: the API server out of the pod's reach.
type blockingPatcher struct{}

func (blockingPatcher) Patch(ctx context.Context, _, _ string, _ []byte) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestReporterSucceededUnreachable: with no answer from the API server,
// Succeeded gives up with the patch's deadline rather than keeping the pod
// from exiting.
func TestReporterSucceededUnreachable(t *testing.T) {
	r := &Reporter{pods: blockingPatcher{}, namespace: "snaprestore", name: "populate-u1", interval: time.Hour}
	err := r.Succeeded(context.Background(), Result{Succeeded: true, Message: "restored"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Succeeded against an unreachable API server: %v; expected its deadline to end it", err)
	}
}
