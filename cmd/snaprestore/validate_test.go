package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runValidate runs `snaprestore validate` in-process with stdin and returns stdout, the
// error text and the exit status.
func runValidate(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"validate"}, args...))
	err := cmd.ExecuteContext(context.Background())
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return out.String(), msg, exitCode(err)
}

// writeFiles writes name → content into a temporary directory and returns its path.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestValidateInputErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"ok.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n",
		"broken.yaml":  "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: [\n",
		"nokind.yaml":  "apiVersion: v1\nmetadata: {name: x}\n",
		"badtype.yaml": "apiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshot\nmetadata: {name: a}\nspec: {source: {persistentVolumeClaimName: 3}}\n",
	})
	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		wantErr string
	}{
		{"no file", "", nil, "at least one -f FILE (or -f - for standard input) is required"},
		{"missing file", "", []string{"-f", filepath.Join(dir, "nope.yaml")}, "read " + filepath.Join(dir, "nope.yaml") + ": open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		{"YAML error in the second document", "", []string{"-f", filepath.Join(dir, "ok.yaml"), "-f", filepath.Join(dir, "broken.yaml")}, filepath.Join(dir, "broken.yaml") + ":4: yaml: line 2: did not find expected node content"},
		{"missing kind", "", []string{"-f", filepath.Join(dir, "nokind.yaml")}, filepath.Join(dir, "nokind.yaml") + `:1: missing "kind"`},
		{"wrong field type", "", []string{"-f", filepath.Join(dir, "badtype.yaml")}, filepath.Join(dir, "badtype.yaml") + `:1: json: cannot unmarshal number into Go struct field VolumeSnapshotSource.spec.source.persistentVolumeClaimName of type string`},
		{"stdin twice", "", []string{"-f", "-", "--old", "-"}, "standard input (-) can be read only once"},
		{"bad stdin", "{", []string{"-f", "-"}, "<stdin>:1: JSON value 1: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, msg, code := runValidate(t, tc.stdin, tc.args...)
			if code != 2 || msg != tc.wantErr || out != "" {
				t.Errorf("validate %v: exit %d, error %q, output %q; want exit 2, error %q, no output", tc.args, code, msg, out, tc.wantErr)
			}
		})
	}
}
