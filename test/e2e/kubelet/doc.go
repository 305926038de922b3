// Package kubelet runs the BackupSource populator (issue #10) on a real node:
// the kubelet built from hack/tools, containerd, runc and the CNI bridge plugin
// from Debian, images imported locally from the static binaries, local PVs on
// loop devices and an S3 backupstore reached from the pod through the bridge's
// gateway. TestMain starts it all as root and removes every mount, loop device,
// link, cgroup and process it made, also on failure. It does not replace the
// node agent suite (test/e2e/populator), which covers the other scenarios.
package kubelet
