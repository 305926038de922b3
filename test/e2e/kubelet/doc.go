// Package kubelet is the end-to-end suite of the BackupSource volume populator
// (issue #10) on a real node: the kubelet built from hack/tools, containerd,
// runc and the CNI bridge plugin from Debian, images imported locally from the
// static binaries, local PVs on loop devices (Block: the device; Filesystem:
// the device formatted ext4 and mounted, as a local-static-provisioner disk)
// and an S3 backupstore reached from the pods through the bridge's gateway.
// Every populator scenario runs here through kubectl: Block from fixtures,
// WaitForFirstConsumer, Filesystem, the annotated PVC, a missing backup, a
// damaged block, deletion mid-population and a killed populator (Block and
// Filesystem: both resume). TestMain
// starts it all once, as root, and removes every mount, loop device, link,
// cgroup and process it made, also on failure.
package kubelet
