package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loader posts reviews over keep-alive HTTPS connections.
type loader struct {
	client *http.Client
	base   string       // https://host:port
	live   func() int64 // the handlers' uncached reads so far
}

// newLoader opens up to conns keep-alive HTTP/1.1 connections, or with http2
// one HTTP/2 connection (as kube-apiserver calls webhooks) carrying conns
// concurrent streams.
func newLoader(base string, caPEM []byte, conns int, http2 bool, live func() int64) (*loader, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("webhook serving CA: no PEM certificate")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		ForceAttemptHTTP2:   http2,
	}
	return &loader{client: &http.Client{Transport: tr}, base: base, live: live}, nil
}

// phaseSpec says how much load one phase sends.
type phaseSpec struct {
	name     string // "real" or "no-op"
	path     string // fixed path for every review; "" posts each to its own path
	requests int    // total reviews; ignored when duration > 0
	duration time.Duration
	workers  int
}

// phase is what one phase measured.
type phase struct {
	Reviews         int           `json:"reviews"`
	Wall            time.Duration `json:"wallNanos"`
	PerSecond       float64       `json:"reviewsPerSecond"`
	P50             time.Duration `json:"p50Nanos"`
	P99             time.Duration `json:"p99Nanos"`
	P999            time.Duration `json:"p999Nanos"`
	AllocsPerReview float64       `json:"allocsPerReview"`
	BytesPerReview  float64       `json:"bytesPerReview"`
	LiveReads       int64         `json:"liveReads"` // cache misses read from the API server
	// CPUPerReview is this process's user+system CPU time per review (the
	// clients' and the server's): unlike wall time, it hardly depends on what
	// else the machine runs.
	CPUPerReview time.Duration `json:"cpuPerReviewNanos"`

	byKind map[string][]time.Duration
}

// run sends the phase's load from spec.workers goroutines, each with its own
// keep-alive connection, and checks that every review was allowed.
func (l *loader) run(spec phaseSpec, mix []review) (phase, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	live0 := l.live()
	cpu0, err := processCPU()
	if err != nil {
		return phase{}, err
	}
	var (
		next     atomic.Int64
		failures atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	lat := make([][]time.Duration, spec.workers)
	kinds := make([][]int, spec.workers)
	start := time.Now()
	deadline := start.Add(spec.duration)
	for w := range spec.workers {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				i := int(next.Add(1) - 1)
				if spec.duration > 0 {
					if time.Now().After(deadline) {
						return
					}
				} else if i >= spec.requests {
					return
				}
				r := mix[i%len(mix)]
				path := r.path
				if spec.path != "" {
					path = spec.path
				}
				t0 := time.Now()
				err := l.post(path, r.body, &buf)
				d := time.Since(t0)
				if err != nil {
					failures.Add(1)
					errOnce.Do(func() { firstErr = fmt.Errorf("%s review on %s: %w", r.kind, path, err) })
					continue
				}
				lat[w] = append(lat[w], d)
				kinds[w] = append(kinds[w], i%len(mix))
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	runtime.ReadMemStats(&after)
	live := l.live() - live0
	cpu1, err := processCPU()
	if err != nil {
		return phase{}, err
	}
	if n := failures.Load(); n > 0 {
		return phase{}, fmt.Errorf("%s phase: %d reviews failed; first: %w", spec.name, n, firstErr)
	}
	var all []time.Duration
	p := phase{LiveReads: live, byKind: map[string][]time.Duration{}}
	for w := range lat {
		all = append(all, lat[w]...)
		for j, d := range lat[w] {
			k := mix[kinds[w][j]].kind
			p.byKind[k] = append(p.byKind[k], d)
		}
	}
	slices.Sort(all)
	p.Reviews, p.Wall = len(all), wall
	p.PerSecond = float64(len(all)) / wall.Seconds()
	p.P50, p.P99, p.P999 = quantile(all, 0.50), quantile(all, 0.99), quantile(all, 0.999)
	p.AllocsPerReview = float64(after.Mallocs-before.Mallocs) / float64(len(all))
	p.BytesPerReview = float64(after.TotalAlloc-before.TotalAlloc) / float64(len(all))
	p.CPUPerReview = (cpu1 - cpu0) / time.Duration(len(all))
	return p, nil
}

// processCPU is the user+system CPU time of this process so far.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

var allowed = []byte(`"allowed":true`)

// post sends one review and checks the answer: HTTP 200 and allowed.
func (l *loader) post(path string, body []byte, buf *bytes.Buffer) error {
	req, err := http.NewRequest(http.MethodPost, l.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(buf.Bytes()))
	}
	if !bytes.Contains(buf.Bytes(), allowed) {
		return fmt.Errorf("not allowed (every review of the mix is valid and must be allowed): %s", truncate(buf.Bytes()))
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
