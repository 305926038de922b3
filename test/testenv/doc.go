// Package testenv starts the real control plane for tests: etcd and kube-apiserver
// from KUBEBUILDER_ASSETS (envtest), with the external-snapshotter snapshot CRDs
// found in the module cache, a scheme with the kinds snaprestore reads, and a
// manager run until the test ends. It also copies fixture trees for tests that
// damage them. It must not import package webhook, whose tests use it.
package testenv
