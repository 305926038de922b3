package certs

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"
)

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the error; none means valid
	}{
		{"files default", nil, nil},
		{"builtin", []string{"--cert-mode=builtin", "--cert-namespace=snaprestore"}, nil},
		{"unknown mode", []string{"--cert-mode=vault"}, []string{`--cert-mode: "vault" is not supported: expected "files" or "builtin"`}},
		{"builtin without namespace", []string{"--cert-mode=builtin", "--cert-namespace="}, []string{"--cert-namespace: required in builtin mode"}},
		{"bad names", []string{"--cert-mode=builtin", "--cert-namespace=Snap", "--ca-secret=a_b", "--serving-secret=a_b"}, []string{
			`--cert-namespace: "Snap" is not a DNS label`, `--ca-secret: "a_b" is not a valid object name`, `--serving-secret: "a_b" is also --ca-secret`}},
		{"serving outlives CA", []string{"--cert-mode=builtin", "--cert-namespace=x", "--ca-validity=1h", "--serving-cert-validity=2h"}, []string{
			"--serving-cert-validity: 2h0m0s is not shorter than --ca-validity 1h0m0s"}},
		{"propagation too long", []string{"--cert-mode=builtin", "--cert-namespace=x", "--ca-propagation=60h"}, []string{
			"--ca-propagation: 60h0m0s is not below a third of --serving-cert-validity 168h0m0s"}},
		{"negative", []string{"--cert-mode=builtin", "--cert-namespace=x", "--cert-reload-interval=-1s"}, []string{"--cert-reload-interval: -1s is negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Getenv: func(string) string { return "" }} // no $POD_NAMESPACE
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	env := map[string]string{"POD_NAMESPACE": "from-env"}
	o := Options{Mode: ModeBuiltin, Getenv: func(k string) string { return env[k] }}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Options{Mode: ModeBuiltin, Namespace: "from-env", CASecret: "snaprestore-ca", ServingSecret: "snaprestore-serving",
		ServiceName: "snaprestore", ValidatingConfig: "snaprestore", MutatingConfig: "snaprestore",
		CAValidity: 365 * 24 * time.Hour, ServingValidity: 7 * 24 * time.Hour, CAPropagation: 2 * time.Minute,
		ResyncInterval: time.Minute, ReloadInterval: 10 * time.Second}
	if diff := cmp.Diff(want, o, cmpopts.IgnoreFields(Options{}, "Getenv")); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}
