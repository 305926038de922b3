package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

// BenchmarkReview serves one kind of review at a time through the handler
// the webhook server registered for its path (decode the AdmissionReview,
// judge, encode the answer, snaprestore's metrics), in-process without TLS or
// network, next to the no-op handler on the same review. ns/op and allocs/op
// of a kind minus those of its no-op twin are what the handler itself costs.
//
//	go test -run '^$' -bench Review ./test/bench/admission
func BenchmarkReview(b *testing.B) {
	ctx := context.Background()
	env, err := cluster.Start(ctx, cluster.Options{
		Webhook: webhook.Options{LonghornDrivers: []string{cluster.Driver}, DefaultDriver: cluster.Driver},
	})
	if err != nil {
		b.Fatalf("start the control plane and the webhook server: %v", err)
	}
	b.Cleanup(func() {
		if err := env.Stop(); err != nil {
			b.Errorf("stop: %v", err)
		}
	})
	const objects = 16
	if err := seed(ctx, env, objects); err != nil {
		b.Fatalf("seed: %v", err)
	}
	mix, err := reviews(objects)
	if err != nil {
		b.Fatalf("reviews: %v", err)
	}
	var kinds []string
	byKind := map[string][]review{}
	for _, r := range mix {
		if byKind[r.kind] == nil {
			kinds = append(kinds, r.kind)
		}
		byKind[r.kind] = append(byKind[r.kind], r)
	}
	for _, k := range kinds {
		rs := byKind[k]
		name := strings.ReplaceAll(k, " ", "_")
		b.Run(name, func(b *testing.B) { serve(b, env.Handlers[rs[0].path], rs) })
		b.Run(name+"/noop", func(b *testing.B) { serve(b, env.Handlers[cluster.PathNoop], rs) })
	}
}

func serve(b *testing.B, h http.Handler, rs []review) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := rs[i%len(rs)]
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, r.path, bytes.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), allowed) {
			b.Fatalf("%s review on %s: HTTP %d, %s; expected 200 and allowed", r.kind, r.path, rec.Code, truncate(rec.Body.Bytes()))
		}
	}
}
