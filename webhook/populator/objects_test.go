package populator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// TestPodSecurityContext: every populator container runs without privilege
// escalation on a read-only root with all capabilities dropped; a Block pod
// is root with no capability unless Options.BlockRunAsUser names a user, then
// it runs as that user and group with runAsNonRoot; a Filesystem pod stays
// root with exactly the five capabilities restoring owners and modes needs,
// whatever BlockRunAsUser says.
func TestPodSecurityContext(t *testing.T) {
	t.Parallel()
	fsCaps := []corev1.Capability{"CHOWN", "FOWNER", "DAC_OVERRIDE", "FSETID", "MKNOD"}
	for _, tc := range []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		uid     int64
		wantUID *int64
		caps    []corev1.Capability
	}{
		{"block as root", userClaim(), 0, nil, nil},
		{"block as a user", userClaim(), 65532, ptr.To[int64](65532), nil},
		{"filesystem", fsClaim(), 0, nil, fsCaps},
		{"filesystem, block user set", fsClaim(), 65532, nil, fsCaps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := &Options{Namespace: "snaprestore-system", BlockRunAsUser: tc.uid}
			o.SetDefaults()
			p := newPod(tc.claim, testSource(), o, "", "")
			sc := p.Spec.Containers[0].SecurityContext
			if sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Fatalf("securityContext %+v: want a read-only root, no privilege escalation, every capability dropped", sc)
			}
			if !slices.Equal(sc.Capabilities.Add, tc.caps) {
				t.Errorf("capabilities added %v; want %v", sc.Capabilities.Add, tc.caps)
			}
			if tc.wantUID == nil {
				if sc.RunAsUser != nil || sc.RunAsGroup != nil || sc.RunAsNonRoot != nil {
					t.Errorf("runAsUser %v runAsGroup %v runAsNonRoot %v; want all unset (the image's root)", sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot)
				}
				return
			}
			if ptr.Deref(sc.RunAsUser, -1) != *tc.wantUID || ptr.Deref(sc.RunAsGroup, -1) != *tc.wantUID || !ptr.Deref(sc.RunAsNonRoot, false) {
				t.Errorf("runAsUser %v runAsGroup %v runAsNonRoot %v; want %d, %d, true", sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot, *tc.wantUID, *tc.wantUID)
			}
		})
	}
}

func TestBlockRunAsUserValidation(t *testing.T) {
	t.Parallel()
	for _, uid := range []int64{-1, 1 << 31} {
		o := &Options{BlockRunAsUser: uid}
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("--populator-block-run-as-user %d", uid)) {
			t.Errorf("BlockRunAsUser %d: error %v; want one naming the flag and the value", uid, err)
		}
	}
	if err := (&Options{BlockRunAsUser: 65532}).Validate(); err != nil {
		t.Errorf("BlockRunAsUser 65532: %v", err)
	}
}

// TestDeviceAccess: a permission error opening the device (as the engine
// returns it, wrapped) is ErrDeviceAccess, permanent, and says what a
// non-root pod needs; other errors, a permission error on another path
// included, pass unchanged and are not permanent.
func TestDeviceAccess(t *testing.T) {
	t.Parallel()
	open := fmt.Errorf("open target: %w", &os.PathError{Op: "open", Path: DevicePath, Err: syscall.EACCES})
	err := deviceAccess(open, DevicePath, 65532)
	if !errors.Is(err, ErrDeviceAccess) || !errors.Is(err, fs.ErrPermission) || !Permanent(err) {
		t.Fatalf("%v: want ErrDeviceAccess wrapping the permission error, permanent", err)
	}
	for _, want := range []string{DevicePath, "permission denied", "as user 65532", "device_ownership_from_security_context = true", "populator.block.runAsUser", "0 to run the pod as root"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if err := deviceAccess(open, DevicePath, 0); !errors.Is(err, ErrDeviceAccess) || !strings.Contains(err.Error(), "as root") {
		t.Errorf("as root: %v; want ErrDeviceAccess saying the node denies the device to root", err)
	}
	for name, other := range map[string]error{
		"no space on the device":   fmt.Errorf("open target: %w", &os.PathError{Op: "open", Path: DevicePath, Err: syscall.ENOSPC}),
		"an unreadable block file": fmt.Errorf("block at offset 0: %w", &os.PathError{Op: "open", Path: "/backups/backupstore/volumes/a/b/vol/blocks/x.blk", Err: syscall.EACCES}),
	} {
		if err := deviceAccess(other, DevicePath, 65532); err != other || Permanent(err) {
			t.Errorf("%s: %v (permanent %v); want the error unchanged, retryable", name, err, Permanent(err))
		}
	}
}
