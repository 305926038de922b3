package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"

	"github.com/snaprestore/snaprestore/webhook/populator"
)

func TestOptionsFlagDefaults(t *testing.T) {
	t.Parallel()
	var o Options
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := Options{
		Port: 9443, CertDir: "/tmp/k8s-webhook-server/serving-certs",
		MetricsBindAddress: ":8080", HealthProbeBindAddress: ":8081",
		LonghornDrivers: []string{"driver.longhorn.io"}, DefaultDriver: "driver.longhorn.io",
		GCGracePeriod:               2 * time.Minute,
		LeaderElectionLeaseDuration: time.Minute, LeaderElectionRenewDeadline: 40 * time.Second, LeaderElectionRetryPeriod: 5 * time.Second,
		Populator: populator.Options{Image: "snaprestore:latest", PullPolicy: "IfNotPresent", CPURequest: "100m", MemoryRequest: "64Mi",
			MemoryLimit: "512Mi", MaxAttempts: 6, Backoff: 10 * time.Second},
	}
	if diff := cmp.Diff(want, o, cmpopts.IgnoreFields(Options{}, "Getenv")); diff != "" {
		t.Errorf("flag defaults (-want +got):\n%s", diff)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	var zero Options
	zero.SetDefaults()
	zero.MetricsBindAddress, zero.HealthProbeBindAddress = want.MetricsBindAddress, want.HealthProbeBindAddress
	if zero.Getenv == nil {
		t.Errorf("SetDefaults left Getenv nil")
	}
	if diff := cmp.Diff(want, zero, cmpopts.IgnoreFields(Options{}, "Getenv")); diff != "" {
		t.Errorf("SetDefaults differs from the flag defaults (-flags +SetDefaults):\n%s", diff)
	}
}

func TestOptionsFlagsParse(t *testing.T) {
	t.Parallel()
	var o Options
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{"--port=10250", "--bind-address=127.0.0.1", "--longhorn-driver=a.example.com", "--longhorn-driver=b.example.com",
		"--protect-backups", "--gc-grace-period=30s", "--backupstore=file:///b", "--metrics-bind-address=0", "--leader-elect"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != 10250 || o.BindAddress != "127.0.0.1" || !o.ProtectBackups || o.GCGracePeriod != 30*time.Second ||
		o.Backupstore != "file:///b" || o.MetricsBindAddress != "0" || !o.LeaderElect {
		t.Errorf("parsed options: %+v", o)
	}
	if diff := cmp.Diff([]string{"a.example.com", "b.example.com"}, o.LonghornDrivers); diff != "" {
		t.Errorf("--longhorn-driver (-want +got):\n%s", diff)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("valid flags rejected: %v", err)
	}
}

const dnsSubdomainMessage = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`

// TestLonghornDriverFlag: one flag type for `snaprestore webhook` and `snaprestore
// validate` (before #12 "a,b" was two drivers in one and one in the other): repeated or
// comma-separated, both are lists; --restore-dir (#10) is gone.
func TestLonghornDriverFlag(t *testing.T) {
	t.Parallel()
	var o Options
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--longhorn-driver=a.example.com,b.example.com", "--longhorn-driver=c.example.com"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.example.com", "b.example.com", "c.example.com"}, o.LonghornDrivers); diff != "" {
		t.Errorf("--longhorn-driver (-want +got):\n%s", diff)
	}
	if err := fs.Parse([]string{"--restore-dir=/r"}); err == nil || !strings.Contains(err.Error(), "unknown flag: --restore-dir") {
		t.Errorf("--restore-dir: %v; want an unknown flag", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	valid := func() Options {
		o := Options{MetricsBindAddress: ":8080", HealthProbeBindAddress: "127.0.0.1:8081"}
		o.SetDefaults()
		return o
	}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want []string // every line of the joined error
	}{
		{"port zero", func(o *Options) { o.Port = 0 }, []string{"--port 0: expected a TCP port from 1 to 65535"}},
		{"port too big", func(o *Options) { o.Port = 70000 }, []string{"--port 70000: expected a TCP port from 1 to 65535"}},
		{"bind address", func(o *Options) { o.BindAddress = "not an address" }, []string{`--bind-address "not an address": expected an IP address, a host name or empty (all interfaces)`}},
		{"metrics address", func(o *Options) { o.MetricsBindAddress = "8080" }, []string{`--metrics-bind-address "8080": expected host:port, :port or "0" to disable: address 8080: missing port in address`}},
		{"probe port", func(o *Options) { o.HealthProbeBindAddress = ":http-alt" }, []string{`--health-probe-bind-address ":http-alt": expected a port from 0 to 65535, got "http-alt"`}},
		{"cert dir", func(o *Options) { o.CertDir = "" }, []string{"--cert-dir: expected a directory, got an empty path"}},
		{"driver", func(o *Options) { o.LonghornDrivers = []string{"Driver.Longhorn.IO"} }, []string{`--longhorn-driver "Driver.Longhorn.IO": expected a CSI driver name: ` + dnsSubdomainMessage}},
		{"negative grace", func(o *Options) { o.GCGracePeriod = -time.Second }, []string{"--gc-grace-period -1s: expected a positive duration"}},
		{"zero grace", func(o *Options) { o.GCGracePeriod = 0 }, []string{"--gc-grace-period 0s: expected a positive duration"}},
		{"default driver", func(o *Options) { o.DefaultDriver = "x_y" }, []string{`--default-driver "x_y": expected a CSI driver name: ` + dnsSubdomainMessage}},
		{"lease namespace", func(o *Options) { o.LeaderElectionNamespace = "Kube_System" }, []string{`--leader-election-namespace "Kube_System": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{"lease times not positive", func(o *Options) { o.LeaderElectionRetryPeriod = -time.Second }, []string{"--leader-election-lease-duration 1m0s, --leader-election-renew-deadline 40s, --leader-election-retry-period -1s: expected positive durations"}},
		{"renew deadline past the lease", func(o *Options) { o.LeaderElectionRenewDeadline = time.Minute }, []string{"--leader-election-renew-deadline 1m0s: expected less than --leader-election-lease-duration 1m0s"}},
		{"retry period too long", func(o *Options) { o.LeaderElectionRetryPeriod = 35 * time.Second }, []string{"--leader-election-renew-deadline 40s: expected more than 1.2 x --leader-election-retry-period 35s"}},
		{"all at once", func(o *Options) { o.Port, o.CertDir = -1, "" }, []string{"--port -1: expected a TCP port from 1 to 65535", "--cert-dir: expected a directory, got an empty path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := valid()
			tc.edit(&o)
			err := o.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s", diff)
			}
		})
	}
}
