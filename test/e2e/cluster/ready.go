package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/webhook"
)

// poll calls cond every 100 ms until it reports done, ctx ends (the error
// names what and the last reason), or the webhook process exits.
func (c *Cluster) poll(ctx context.Context, what string, cond func(context.Context) (done bool, reason string)) error {
	reason := "not checked yet"
	for {
		if exited, err := c.Exited(); exited {
			return fmt.Errorf("%s: snaprestore webhook exited (%v); its log ends:\n%s", what, err, c.LogTail())
		}
		var done bool
		if done, reason = cond(ctx); done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up (%w); last: %s; the webhook log ends:\n%s", what, ctx.Err(), reason, c.LogTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReady waits for the webhook's /readyz (its HTTPS server has started).
func (c *Cluster) waitReady(ctx context.Context) error {
	return c.poll(ctx, "wait for "+c.ProbeURL+"/readyz", func(ctx context.Context) (bool, string) {
		code, body, err := get(ctx, c.ProbeURL+"/readyz")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, fmt.Sprintf("HTTP %d %s", code, body)
	})
}

// register creates the webhook configurations and waits until the API server
// calls both: a dry-run PVC with a malformed backup reference must be denied by
// the mutating webhook, and a dry-run VolumeSnapshotClass must show up in the
// validating webhook's review counter. matchAllSnapshots is for CRDs without CEL
// rules (see ValidatingConfiguration).
func (c *Cluster) register(ctx context.Context, matchAllSnapshots bool) error {
	url := func(path string) string { return c.WebhookURL + path }
	if err := c.Client.Create(ctx, ValidatingConfiguration(url, c.CABundle, matchAllSnapshots)); err != nil {
		return fmt.Errorf("create ValidatingWebhookConfiguration: %w", err)
	}
	if err := c.Client.Create(ctx, MutatingConfiguration(url, c.CABundle)); err != nil {
		return fmt.Errorf("create MutatingWebhookConfiguration: %w", err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "snaprestore-probe", Namespace: "default",
			Annotations: map[string]string{webhook.AnnotationBackup: "not a backup reference"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		},
	}
	if err := c.poll(ctx, "wait for the API server to call the mutating webhook", func(ctx context.Context) (bool, string) {
		err := c.Client.Create(ctx, pvc.DeepCopy(), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), `admission webhook "persistentvolumeclaims.mutate.snaprestore.io" denied`), fmt.Sprint(err)
	}); err != nil {
		return err
	}
	// A default class: the class webhook's matchCondition sends those of every driver.
	class := &snapv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: "snaprestore-probe",
		Annotations: map[string]string{webhook.AnnotationDefaultClass: "true"}}, Driver: "probe.snaprestore.io", DeletionPolicy: snapv1.VolumeSnapshotContentRetain}
	return c.poll(ctx, "wait for the API server to call the validating webhook", func(ctx context.Context) (bool, string) {
		// Allowed or denied, the review is counted once the webhook is called.
		_ = c.Client.Create(ctx, class.DeepCopy(), client.DryRunAll)
		n, err := c.Metric(ctx, "snaprestore_webhook_reviews_total", map[string]string{"kind": "VolumeSnapshotClass"})
		if err != nil {
			return false, err.Error()
		}
		return n > 0, fmt.Sprintf("%v VolumeSnapshotClass reviews counted", n)
	})
}

// Metric sums the samples of the named metric whose labels include want, from
// the webhook's /metrics.
func (c *Cluster) Metric(ctx context.Context, name string, want map[string]string) (float64, error) {
	code, body, err := c.Scrape(ctx, c.metricsToken)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET %s: HTTP %d", c.MetricsURL, code)
	}
	return SumSamples(body, name, want)
}

// SumSamples is the sum of the samples of metric name whose labels include want, read
// from Prometheus text exposition: lines `name{k="v",...} value`.
func SumSamples(text, name string, want map[string]string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, ok := strings.Cut(line[len(name):], " ")
		if !ok {
			return 0, fmt.Errorf("metric line %q: no value", line)
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(strings.Trim(series, "{}"), ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += f
	}
	return sum, sc.Err()
}

func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
