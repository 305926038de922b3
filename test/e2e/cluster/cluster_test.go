package cluster

import (
	"encoding/json"
	"strings"
	"testing"
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
