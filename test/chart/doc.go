// Package chart tests the Helm chart in charts/snaprestore: helm lint, golden renders of
// both certificate modes, the rendered objects against the flags and webhook paths of the
// code, and a server-side dry-run of every object on a real kube-apiserver with the
// snapshot and cert-manager CRDs. It has no non-test code; run it with go test.
package chart
