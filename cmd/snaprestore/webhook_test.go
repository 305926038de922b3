package main

import (
	"path/filepath"
	"testing"
)

// TestWebhookFlagErrors checks that the webhook command reports bad flags before
// it connects to anything. The running server is covered by test/e2e.
func TestWebhookFlagErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-kubeconfig")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"webhook flags, all reported", []string{"--port", "0", "--gc-grace-period", "0"},
			"--port 0: expected a TCP port from 1 to 65535\n--gc-grace-period 0s: expected a positive duration"},
		// #10: the webhook no longer restores images into its own pod.
		{"restore dir is gone", []string{"--restore-dir", "/var/lib/restores"}, `unknown flag: --restore-dir`},
		{"cert flags", []string{"--cert-mode", "vault"},
			`--cert-mode: "vault" is not supported: expected "files" or "builtin"`},
		{"kubeconfig", []string{"--kubeconfig", missing},
			"--kubeconfig: stat " + missing + ": no such file or directory"},
		{"arguments", []string{"extra"}, `unknown command "extra" for "snaprestore webhook"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := runCLI(t, append([]string{"webhook", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"}, tc.args...)...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("snaprestore webhook %v: error %v, want %q", tc.args, err, tc.want)
			}
		})
	}
}
