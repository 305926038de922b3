// Package cluster starts what the admission and API-server benchmarks share: a
// real kube-apiserver and etcd (envtest) with the snapshot CRDs, and a
// controller-runtime manager whose HTTPS webhook server serves snaprestore's
// real validating and mutating handlers plus a no-op reference path. It also
// builds the valid objects the benchmarks create and review. It measures
// nothing itself; the entry point is Start.
package cluster
