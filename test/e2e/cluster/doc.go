// Package cluster runs snaprestore as users do, on a real control plane: envtest's
// etcd and kube-apiserver with the snapshot CRDs (as shipped, or with their CEL rules
// stripped like older CRDs), `snaprestore webhook` as a separate process with a fresh
// CA and serving certificate, its webhook configurations, and the real kubectl. The
// end-to-end suite (test/e2e) and `make demo` (test/demo) share it; it is not a test
// framework of its own. Entry point: Start.
package cluster
