package cluster

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSnapshotCRDsStripCEL(t *testing.T) {
	t.Parallel()
	for _, strip := range []bool{false, true} {
		crds, err := SnapshotCRDs(".", strip)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		rules := 0
		for _, c := range crds {
			names = append(names, c.Name)
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			rules += strings.Count(string(b), `"x-kubernetes-validations"`)
		}
		if got, want := strings.Join(names, ","), "volumesnapshotclasses.snapshot.storage.k8s.io,volumesnapshotcontents.snapshot.storage.k8s.io,volumesnapshots.snapshot.storage.k8s.io"; got != want {
			t.Errorf("strip %v: CRDs %s, want %s", strip, got, want)
		}
		if strip && rules != 0 {
			t.Errorf("stripped CRDs still carry %d x-kubernetes-validations", rules)
		}
		if !strip && rules == 0 {
			t.Errorf("CRDs as shipped carry no x-kubernetes-validations; the CEL run would test nothing")
		}
	}
}

func TestSumSamples(t *testing.T) {
	t.Parallel()
	text := `# HELP snaprestore_webhook_reviews_total Admission reviews.
# TYPE snaprestore_webhook_reviews_total counter
snaprestore_webhook_reviews_total{kind="PersistentVolumeClaim",operation="CREATE",verdict="denied"} 2
snaprestore_webhook_reviews_total{kind="PersistentVolumeClaim",operation="UPDATE",verdict="denied"} 1
snaprestore_webhook_reviews_total{kind="VolumeSnapshot",operation="CREATE",verdict="denied"} 5
snaprestore_webhook_reviews_total_other{kind="PersistentVolumeClaim"} 100
`
	for _, tc := range []struct {
		want   map[string]string
		expect float64
	}{
		{map[string]string{"kind": "PersistentVolumeClaim"}, 3},
		{map[string]string{"kind": "PersistentVolumeClaim", "operation": "CREATE"}, 2},
		{map[string]string{"verdict": "denied"}, 8},
		{map[string]string{"kind": "VolumeSnapshotClass"}, 0},
	} {
		got, err := SumSamples(text, "snaprestore_webhook_reviews_total", tc.want)
		if err != nil || got != tc.expect {
			t.Errorf("SumSamples(%v) = %v, %v; want %v", tc.want, got, err, tc.expect)
		}
	}
}

func TestEngineTime(t *testing.T) {
	for out, want := range map[string]time.Duration{
		"restore: 100% (512/512 blocks, 1 GiB of 1 GiB, 203.4 MB/s)\nrestored bak://v/b to r.img: 1 GiB volume, 512 blocks (1 GiB), 512 objects fetched, 1 GiB written in 3.408s (315.1 MB/s)\n": 3408 * time.Millisecond,
		"PVC ns/gib: restored and verified bak://vol-gib/backup-gib: 512 blocks, 1073741824 bytes in 1m7.265s":                                                                                   time.Minute + 7265*time.Millisecond,
		"restored and verified bak://v/b: 8 blocks, 16777216 bytes in 850ms, resumed: 3 block objects were restored before the interruption":                                                     850 * time.Millisecond,
	} {
		if got, err := EngineTime(out); err != nil || got != want {
			t.Errorf("EngineTime(%q) = %v, %v; want %v", out, got, err, want)
		}
	}
	if got, err := EngineTime("populating PVC ns/gib in the background"); err == nil {
		t.Errorf("EngineTime without a duration = %v; want an error", got)
	}
}
