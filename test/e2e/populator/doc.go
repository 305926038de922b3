// Package populator is the end-to-end suite of the BackupSource volume
// populator (issue #10): the real kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler and kubectl, `snaprestore webhook --populator` as a process, and
// the test node agent (test/nodeagent) as kubelet and CSI provisioner, whose pods
// run `snaprestore populate` as local processes. TestMain starts it all once.
package populator
