// Package nodeagent turns a test API server (envtest's etcd and kube-apiserver) into
// a one-node cluster for tests: it runs the real kube-controller-manager and
// kube-scheduler as processes, and in-process plays the node's kubelet (pods run as
// local processes, with volume paths substituted) and a CSI external-provisioner
// that backs PVs of its StorageClasses with files (Block) or directories
// (Filesystem). It implements Kubernetes' contracts only, nothing of snaprestore.
// Entry points: Start and StartTest; the substitution rules are on Options.Images.
package nodeagent
