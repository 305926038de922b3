package measure

import (
	"os/exec"
	"testing"
)

func TestRSSAnon(t *testing.T) {
	status := []byte("Name:\tsnaprestore\nVmRSS:\t   91104 kB\nRssAnon:\t   44092 kB\nRssFile:\t   47012 kB\n")
	if got, want := rssAnon(status), int64(44092<<10); got != want {
		t.Errorf("rssAnon = %d; expected %d", got, want)
	}
	for _, bad := range []string{"", "RssAnon:\n", "RssAnon:\t12 MB\n", "RssAnon:\tx kB\n"} {
		if got := rssAnon([]byte(bad)); got != 0 {
			t.Errorf("rssAnon(%q) = %d; expected 0", bad, got)
		}
	}
}

// TestCommandMeasuresAnon: a process that holds 64 MiB of anonymous memory
// for a while is seen holding at least most of it.
func TestCommandMeasuresAnon(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	// 64 MiB into a shell variable (as 'x': a variable cannot hold NULs).
	r, err := Command(exec.Command(sh, "-c", `v=$(head -c 67108864 /dev/zero | tr '\0' x); sleep 0.2; echo ${#v}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxAnon < 48<<20 || r.MaxAnon > r.MaxRSS {
		t.Errorf("MaxAnon %d, MaxRSS %d; expected MaxAnon of at least 48 MiB and at most MaxRSS", r.MaxAnon, r.MaxRSS)
	}
}
