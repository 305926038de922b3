package offline

import (
	"fmt"
	"io"
	"strings"
)

// Verdict is the outcome for one object.
type Verdict string

// Verdicts, as printed.
const (
	Allowed Verdict = "allowed"
	Denied  Verdict = "denied"
	Skipped Verdict = "skipped" // a kind the rules do not cover
)

// Result is the verdict on one object with its causes (denials) and warnings.
type Result struct {
	Source          string // "file.yaml:12"
	Kind            string // e.g. VolumeSnapshot
	Namespace, Name string
	Operation       string // CREATE or UPDATE
	Verdict         Verdict
	Causes          []string // each "field.path: message", as the API server prints them
	Warnings        []string
}

// Report is the outcome of a Run, in input order.
type Report struct{ Results []Result }

// Denied reports whether any object was denied.
func (r Report) Denied() bool {
	for _, res := range r.Results {
		if res.Verdict == Denied {
			return true
		}
	}
	return false
}

// Write prints one line per object, "<kind> <namespace>/<name>: <verdict>", then each
// cause and warning indented below it, and a summary line.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	counts := map[Verdict]int{}
	for _, res := range r.Results {
		counts[res.Verdict]++
		fmt.Fprintf(&b, "%s %s: %s", strings.ToLower(res.Kind), objectName(res.Namespace, res.Name), res.Verdict)
		if res.Operation == "UPDATE" {
			b.WriteString(" (update)")
		}
		fmt.Fprintf(&b, " [%s]\n", res.Source)
		for _, c := range res.Causes {
			fmt.Fprintf(&b, "  - %s\n", c)
		}
		for _, warn := range res.Warnings {
			fmt.Fprintf(&b, "  Warning: %s\n", warn)
		}
	}
	fmt.Fprintf(&b, "%d objects: %d allowed, %d denied, %d skipped\n", len(r.Results), counts[Allowed], counts[Denied], counts[Skipped])
	_, err := io.WriteString(w, b.String())
	return err
}

func objectName(namespace, name string) string {
	if name == "" {
		name = "<unnamed>"
	}
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
