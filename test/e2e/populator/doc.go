// Package populator holds only the BackupSource populator's benchmarks (make
// bench; BenchmarkPopulateBlock, BenchmarkPopulateFilesystem) and their
// harness: the real kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler and kubectl, `snaprestore webhook --populator` as a process,
// and the test node agent (test/nodeagent) as kubelet and CSI provisioner,
// whose pods run `snaprestore populate` as local processes. The populator's
// end-to-end tests run on a real kubelet in test/e2e/kubelet.
package populator
