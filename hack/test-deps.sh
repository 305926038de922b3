#!/usr/bin/env bash
# Installs the Debian packages whose tools the tests run (mkfs.ext4/debugfs for the
# file-level tests, mkfs.xfs for xfs, nbdinfo/nbdcopy as a real NBD client, sfdisk
# for partition tables; containerd, runc, the CNI plugins and a static busybox for the
# real-kubelet e2e), only when a tool is missing: a fresh CI machine gets them, a
# prepared one is untouched.
set -euo pipefail
declare -A pkg=(
  [mkfs.ext4]=e2fsprogs [debugfs]=e2fsprogs [e2fsck]=e2fsprogs
  [mkfs.xfs]=xfsprogs
  [nbdinfo]=libnbd-bin [nbdcopy]=libnbd-bin
  [sfdisk]=fdisk
  [containerd]=containerd [ctr]=containerd [runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins [/bin/busybox]=busybox-static
)
missing=()
for tool in "${!pkg[@]}"; do
  [[ $tool == /* ]] && { [ -x "$tool" ] || missing+=("${pkg[$tool]}"); continue; }
  command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "test tools missing; install the Debian packages: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (tools the tests run)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
