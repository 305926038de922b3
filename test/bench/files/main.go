// Command files-bench measures reading files out of a backup (make bench,
// issue #11) against baselines measured in the same run: fetching one 1 MiB
// file with `snaprestore files cp` against a full `snaprestore restore` of
// the same backup (block objects fetched and wall time), and `snaprestore
// restore --files` of a 1 GiB tree of 10,000 files against `cp -a` of the
// same tree from a local directory (wall time and peak RSS). Every timed step
// ends with sync. Runs alternate and medians are reported; data is generated,
// measured and deleted case by case. Exits non-zero only when a step fails or
// a copy differs from its source.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/snaprestore/snaprestore/test/bench/measure"
)

type options struct {
	bin   string
	dir   string
	runs  int
	files int   // files in the tree case
	treeM int64 // MiB in the tree case
	only  string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/snaprestore", "snaprestore binary")
	flag.StringVar(&o.dir, "dir", "", "work directory (default: a new directory under $TMPDIR); removed afterwards")
	flag.IntVar(&o.runs, "runs", 3, "repetitions of each timed step (medians are reported)")
	flag.IntVar(&o.files, "files", 10000, "files in the restore --files tree")
	flag.Int64Var(&o.treeM, "tree-mib", 1024, "MiB of data in the restore --files tree")
	flag.StringVar(&o.only, "only", "", "run one case: one or tree (default both)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "files-bench:", err)
		os.Exit(1)
	}
}

const mi = int64(1) << 20

func run(o options) error {
	bin, dir, err := measure.Setup(o.bin, o.dir, "snaprestore-files-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("== files benchmark (work dir %s)\n", dir)
	if o.only != "tree" {
		if err := oneFile(bin, filepath.Join(dir, "one"), o.runs); err != nil {
			return err
		}
	}
	if o.only == "one" {
		return nil
	}
	return tree(bin, filepath.Join(dir, "tree"), o)
}

// oneFile: a 4 GiB volume with 2 GiB written (two 1 GiB files and the
// 1 MiB file read back), lz4, 2 MiB blocks.
func oneFile(bin, dir string, runs int) error {
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for name, size := range map[string]int64{"data/a.bin": 1023 * mi, "data/b.bin": 1023 * mi, "etc/one.bin": mi} {
		if err := writeRandom(filepath.Join(src, name), size, rng); err != nil {
			return err
		}
	}
	ref, store, err := makeBackup(bin, dir, src, "bench-one", "4G")
	if err != nil {
		return err
	}
	os.RemoveAll(src)
	var cps, restores []measure.Result
	var objects int
	for i := range runs {
		out := filepath.Join(dir, fmt.Sprint("one-", i))
		r, err := measure.Command(exec.Command(bin, "files", "cp", ref, "/etc/one.bin", out, "--backupstore", store))
		if err != nil {
			return err
		}
		if objects, err = fetched(r.Stderr); err != nil {
			return err
		}
		cps = append(cps, r)
		img := filepath.Join(dir, "full.img")
		if r, err = measure.Command(exec.Command(bin, "restore", ref, "--to", img, "--backupstore", store)); err != nil {
			return err
		}
		restores = append(restores, r)
		os.Remove(img)
		os.Remove(out)
	}
	cp, full := measure.Median(cps), measure.Median(restores)
	ratio := cp.Wall.Seconds() / full.Wall.Seconds()
	fmt.Printf("one 1 MiB file of a 4 GiB volume, 2 GiB written: files cp %s, %d block objects fetched; full restore %s; ratio %.3f\n",
		cp.Wall.Round(time.Millisecond), objects, full.Wall.Round(time.Millisecond), ratio)
	fmt.Printf("  goal: objects <= 8: %s; wall <= 5%% of the full restore: %s\n", measure.Verdict(objects <= 8), measure.Verdict(ratio <= 0.05))
	return nil
}

// tree: restore --files of a tree of o.files files (o.treeM MiB) against
// cp -a of the same tree.
func tree(bin, dir string, o options) error {
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	rng := rand.New(rand.NewChaCha8([32]byte{2}))
	per := o.treeM * mi / int64(o.files)
	for i := range o.files {
		if err := writeRandom(filepath.Join(src, fmt.Sprintf("d%02d/f%05d", i%100, i)), per, rng); err != nil {
			return err
		}
	}
	ref, store, err := makeBackup(bin, dir, src, "bench-tree", fmt.Sprintf("%dM", o.treeM*3/2+256))
	if err != nil {
		return err
	}
	var ours, cps []measure.Result
	for i := range o.runs {
		out := filepath.Join(dir, fmt.Sprint("out-", i))
		r, err := measure.Command(exec.Command(bin, "restore", ref, "--files", "--to", out, "--backupstore", store))
		if err != nil {
			return err
		}
		ours = append(ours, r)
		if err := exec.Command("diff", "-r", "-q", "-x", "lost+found", src, out).Run(); err != nil {
			return fmt.Errorf("restore --files output differs from the tree: diff -r %s %s: %w", src, out, err)
		}
		os.RemoveAll(out)
		if r, err = measure.Command(exec.Command("cp", "-a", src, out)); err != nil {
			return err
		}
		cps = append(cps, r)
		os.RemoveAll(out)
	}
	m, c := measure.Median(ours), measure.Median(cps)
	ratio := c.Wall.Seconds() / m.Wall.Seconds()
	fmt.Printf("restore --files of %d files (%d MiB): %s, peak anonymous %d MiB (RSS %d MiB); cp -a of the same tree %s; speed ratio %.2fx cp -a\n",
		o.files, o.treeM, m.Wall.Round(time.Millisecond), m.MaxAnon>>20, m.MaxRSS>>20, c.Wall.Round(time.Millisecond), ratio)
	// The memory goal is on the process's own memory (measure.Result.MaxAnon);
	// peak RSS adds the pages of the executable the kernel mapped.
	fmt.Printf("  goal: >= 0.5x cp -a: %s; peak anonymous memory <= 128 MiB: %s\n", measure.Verdict(ratio >= 0.5), measure.Verdict(m.MaxAnon <= 128*mi))
	return nil
}

func makeBackup(bin, dir, src, volume, size string) (ref, store string, err error) {
	img := filepath.Join(dir, "vol.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", src, img, size).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("mkfs.ext4 -d %s: %w\n%s", src, err, out)
	}
	defer os.Remove(img)
	store = "file://" + filepath.Join(dir, "store")
	if err := os.MkdirAll(filepath.Join(dir, "store"), 0o755); err != nil {
		return "", "", err
	}
	cmd := exec.Command(bin, "backup", "--backupstore", store, "--volume", volume, "--from", img, "--backup", "backup-bench")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s: %w\n%s", cmd, err, out)
	}
	return volume + "/backup-bench", store, nil
}

func writeRandom(p string, size int64, rng *rand.Rand) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	buf := make([]byte, min(size, 4*mi))
	for left := size; left > 0; left -= int64(len(buf)) {
		buf = buf[:min(left, int64(len(buf)))]
		for i := 0; i+8 <= len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

var fetchedRE = regexp.MustCompile(`; (\d+) block objects fetched`)

func fetched(stderr string) (int, error) {
	m := fetchedRE.FindStringSubmatch(stderr)
	if m == nil {
		return 0, fmt.Errorf("files cp printed no object count: %q", stderr)
	}
	return strconv.Atoi(m[1])
}
