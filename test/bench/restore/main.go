// Command restore-bench measures the snaprestore restore engine against cp in
// the same run (make bench): it generates volumes with `snaprestore backup`,
// restores them with `snaprestore restore` run as a child process (for its
// peak memory), and times `cp --sparse=always` of the expected image as the
// physical baseline. Every timed step ends with sync, so both are timed to
// durable storage. Prints ratios; exits non-zero only when a step fails or a
// restored image differs from its source.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/snaprestore/snaprestore/test/bench/measure"
)

type options struct {
	bin      string // snaprestore binary
	dir      string // work directory on the disk to measure; removed afterwards
	volumeGi int64  // size of the main volume
	writeGi  int64  // data written into it
	keep     bool
	runs     int // repetitions of each timed step; medians are reported
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/snaprestore", "snaprestore binary")
	flag.StringVar(&o.dir, "dir", "", "work directory (default: a new directory under $TMPDIR)")
	flag.Int64Var(&o.volumeGi, "volume-gib", 2, "main volume size in GiB")
	flag.Int64Var(&o.writeGi, "written-gib", 1, "data written into the main volume in GiB")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.IntVar(&o.runs, "runs", 5, "repetitions of each timed step (medians are reported)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "restore-bench:", err)
		os.Exit(1)
	}
}

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

func run(o options) error {
	bin, dir, err := measure.Setup(o.bin, o.dir, "snaprestore-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	store := "file://" + filepath.Join(dir, "store")
	if err := os.MkdirAll(filepath.Join(dir, "store"), 0o755); err != nil {
		return err
	}
	fmt.Printf("== restore benchmark (work dir %s)\n", dir)

	if err := benchMain(o, bin, dir, store); err != nil {
		return err
	}
	return benchSparse(o, bin, dir, store)
}

// benchMain is the main case: restore and verify against cp of the same image.
func benchMain(o options, bin, dir, store string) error {
	// 1. Main case: 2 GiB volume, 1 GiB written, lz4, 2 MiB blocks.
	img := filepath.Join(dir, "main.img")
	if err := generate(img, o.volumeGi*gi, o.writeGi*gi, 1); err != nil {
		return err
	}
	if _, err := timed(bin, "backup", "--backupstore", store, "--volume", "bench-main", "--from", img, "--backup", "backup-main"); err != nil {
		return err
	}
	// Runs alternate cp and restore, three times each; medians are reported, so a
	// burst of load from other processes does not decide the ratio.
	cpImg := filepath.Join(dir, "cp.img")
	out := filepath.Join(dir, "restored.img")
	var cpRuns, rRuns, vRuns []measure.Result
	for i := 0; i < o.runs; i++ {
		res, err := measure.Command(exec.Command("cp", "--sparse=always", img, cpImg))
		if err != nil {
			return err
		}
		cpRuns = append(cpRuns, res)
		os.Remove(cpImg)
		if res, err = timed(bin, "restore", "bak://bench-main/backup-main", "--backupstore", store, "--to", out); err != nil {
			return err
		}
		rRuns = append(rRuns, res)
		if i == 0 {
			if err := sameContent(img, out); err != nil {
				return err
			}
		}
		os.Remove(out)
		if res, err = timed(bin, "verify", "bak://bench-main/backup-main", "--backupstore", store); err != nil {
			return err
		}
		vRuns = append(vRuns, res)
	}
	cpRes, rRes, vRes := measure.Median(cpRuns), measure.Median(rRuns), measure.Median(vRuns)
	written := float64(o.writeGi * gi)
	cpRate, rRate, vRate := written/1e6/cpRes.Wall.Seconds(), written/1e6/rRes.Wall.Seconds(), written/1e6/vRes.Wall.Seconds()
	fmt.Printf("volume %d GiB, %d GiB written, lz4, 2 MiB blocks (medians of %d runs)\n", o.volumeGi, o.writeGi, o.runs)
	fmt.Printf("  cp --sparse=always + sync : %7.2f s  %7.1f MB/s  (baseline)\n", cpRes.Wall.Seconds(), cpRate)
	// The memory goal is on the process's own memory (measure.Result.MaxAnon);
	// peak RSS adds the pages of the executable the kernel mapped.
	fmt.Printf("  snaprestore restore + sync: %7.2f s  %7.1f MB/s  ratio %.2fx cp (goal >= 0.85)  peak anonymous %.1f MiB (goal <= 64: %s), RSS %.1f MiB\n",
		rRes.Wall.Seconds(), rRate, cpRes.Wall.Seconds()/rRes.Wall.Seconds(), float64(rRes.MaxAnon)/float64(mi),
		measure.Verdict(rRes.MaxAnon <= 64*mi), float64(rRes.MaxRSS)/float64(mi))
	fmt.Printf("  snaprestore verify        : %7.2f s  %7.1f MB/s  ratio %.2fx restore speed (goal >= 1)  peak anonymous %.1f MiB, RSS %.1f MiB\n",
		vRes.Wall.Seconds(), vRate, rRes.Wall.Seconds()/vRes.Wall.Seconds(), float64(vRes.MaxAnon)/float64(mi), float64(vRes.MaxRSS)/float64(mi))
	return nil
}

// benchSparse shows that cost follows written blocks, not the volume size.
func benchSparse(o options, bin, dir, store string) error {
	// Restores alternate between the two volumes so both see the same load.
	sizes := []int64{1 << 40, 128 * mi}
	for i, size := range sizes {
		name := fmt.Sprintf("bench-sparse-%d", i)
		src := filepath.Join(dir, name+".img")
		if err := generate(src, size, 64*mi, uint64(10+i)); err != nil {
			return err
		}
		if _, err := timed(bin, "backup", "--backupstore", store, "--volume", name, "--from", src, "--backup", "backup-1"); err != nil {
			return err
		}
		os.Remove(src)
	}
	runs := make([][]measure.Result, len(sizes))
	for range o.runs {
		for i := range sizes {
			name := fmt.Sprintf("bench-sparse-%d", i)
			dst := filepath.Join(dir, name+".restored")
			res, err := timed(bin, "restore", "bak://"+name+"/backup-1", "--backupstore", store, "--to", dst)
			if err != nil {
				return err
			}
			runs[i] = append(runs[i], res)
			os.Remove(dst)
		}
	}
	var walls [2]time.Duration
	var anon [2]int64
	for i := range sizes {
		m := measure.Median(runs[i])
		walls[i], anon[i] = m.Wall, m.MaxAnon
	}
	fmt.Printf("64 MiB written: 1 TiB volume %.3f s (anonymous %.1f MiB) vs 128 MiB volume %.3f s (anonymous %.1f MiB): ratio %.2f (goal ~1)\n",
		walls[0].Seconds(), float64(anon[0])/float64(mi), walls[1].Seconds(), float64(anon[1])/float64(mi), walls[0].Seconds()/walls[1].Seconds())
	return nil
}

// generate writes a sparse image of size bytes with written bytes of
// moderately compressible data (half random, half repeated text per 4 KiB)
// in 2 MiB extents spread evenly over the volume.
func generate(path string, size, written int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	const extent = 2 << 20
	n := written / extent
	stride := size / n / extent * extent
	r := rand.NewChaCha8([32]byte{byte(seed)})
	buf := make([]byte, extent)
	text := []byte("snaprestore bench: the quick brown fox jumps over the lazy longhorn volume. ")
	for i := int64(0); i < n; i++ {
		for p := 0; p < extent; p += 4096 {
			r.Read(buf[p : p+2048])
			for q := p + 2048; q < p+4096; q += len(text) {
				copy(buf[q:min(q+len(text), p+4096)], text)
			}
		}
		if _, err := f.WriteAt(buf, i*stride); err != nil {
			return err
		}
	}
	return f.Sync()
}

// timed runs the snaprestore binary with args (measure.Command).
func timed(bin string, args ...string) (measure.Result, error) {
	return measure.Command(exec.Command(bin, args...))
}

func sameContent(a, b string) error {
	ha, err := hashFile(a)
	if err != nil {
		return err
	}
	hb, err := hashFile(b)
	if err != nil {
		return err
	}
	if ha != hb {
		return fmt.Errorf("restored image %s differs from %s", b, a)
	}
	return nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
