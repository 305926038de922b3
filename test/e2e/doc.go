// Package e2e is the end-to-end suite (issue #3): a real etcd and kube-apiserver,
// `snaprestore webhook` as a separate process registered through real webhook
// configurations, and the real kubectl. TestMain starts two clusters, one with the
// snapshot CRDs as shipped (CEL rules) and one with their CEL rules stripped; every
// scenario under testdata/ runs on both. See testdata/README.md to add a scenario.
package e2e
