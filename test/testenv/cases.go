package testenv

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// FixtureCase is one line of a fixture store's CASES file
// (restore/testdata/longhorn-backupstore/CASES): a backup and the sha256 of
// the image Longhorn's own restore produced from it.
type FixtureCase struct {
	Folder string // the store's directory under the fixture root
	Volume string
	Backup string
	SHA256 string // hex
}

// Handle is the case's backup as bak://<volume>/<backup>.
func (c FixtureCase) Handle() string { return "bak://" + c.Volume + "/" + c.Backup }

// ReadCases reads a CASES file: "<folder> bak://<volume>/<backup> <sha256>" a
// line; other lines are passed over. A file with no case is an error.
func ReadCases(path string) ([]FixtureCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []FixtureCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		vol, bak, _ := strings.Cut(strings.TrimPrefix(fields[1], "bak://"), "/")
		out = append(out, FixtureCase{Folder: fields[0], Volume: vol, Backup: bak, SHA256: fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no cases; expected lines of <folder> bak://<volume>/<backup> <sha256>", path)
	}
	return out, nil
}

// Cases is ReadCases that fails t.
func Cases(t testing.TB, path string) []FixtureCase {
	t.Helper()
	cases, err := ReadCases(path)
	if err != nil {
		t.Fatal(err)
	}
	return cases
}
