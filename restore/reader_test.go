package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

const (
	mib        = 1 << 20
	dupOffset  = 18874368 // block 9 of lz4Full: the same object as block 0
	holeOffset = 8388608  // block 4 of lz4Full: not listed
)

// readAllChunks reads r from start to end in random chunk sizes and returns
// the sha256 of what it read; every chunk must be full except the last,
// which ends with io.EOF.
func readAllChunks(t *testing.T, r *Reader, rng *rand.Rand) string {
	t.Helper()
	h := sha256.New()
	buf := make([]byte, 5*mib)
	var off int64
	for {
		n := 1 + rng.IntN(len(buf))
		if rng.IntN(4) == 0 {
			n = 1 + rng.IntN(4096)
		}
		got, err := r.ReadAt(buf[:n], off)
		h.Write(buf[:got])
		off += int64(got)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ReadAt(%d bytes, %d): %v", n, off-int64(got), err)
		}
		if got != n {
			t.Fatalf("ReadAt(%d bytes, %d) = %d without an error", n, off-int64(got), got)
		}
	}
	if off != r.Size() {
		t.Fatalf("read %d bytes; want the volume size %d", off, r.Size())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkRandomReads compares random reads with the restored image.
func checkRandomReads(t *testing.T, r *Reader, image []byte, rng *rand.Rand) {
	t.Helper()
	for range 200 {
		off := rng.Int64N(int64(len(image)))
		n := 1 + rng.IntN(3*mib)
		got := make([]byte, n)
		m, err := r.ReadAt(got, off)
		want := image[off:min(int64(len(image)), off+int64(n))]
		if len(want) < n && err != io.EOF || len(want) == n && err != nil {
			t.Fatalf("ReadAt(%d bytes, %d) error %v", n, off, err)
		}
		if m != len(want) || !bytes.Equal(got[:m], want) {
			t.Fatalf("ReadAt(%d bytes, %d): %d bytes differing from Restore's image", n, off, m)
		}
	}
}

func restoredImage(t *testing.T, st *Store, volume, backup string) []byte {
	t.Helper()
	target := filepath.Join(t.TempDir(), "image")
	if _, err := Restore(context.Background(), st.Store, volume, backup, target, Options{}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReaderFixtures(t *testing.T) {
	t.Parallel()
	_, openS3 := s3Fixture(t, 1)
	stores := map[string]func(t *testing.T, folder string) *Store{
		"file": fixtureStore,
		"s3":   func(_ *testing.T, folder string) *Store { return openS3(folder) },
	}
	for kind, open := range stores {
		for _, c := range testenv.Cases(t, filepath.Join(fixtures, "CASES")) {
			t.Run(kind+"/"+c.Folder+"/"+c.Backup, func(t *testing.T) {
				t.Parallel()
				st := open(t, c.Folder)
				seed := uint64(time.Now().UnixNano())
				t.Logf("seed %d", seed)
				rng := rand.New(rand.NewPCG(seed, 11))
				r, err := OpenReader(context.Background(), st.Store, c.Volume, c.Backup, ReaderOptions{CacheBytes: 3 * mib})
				if err != nil {
					t.Fatalf("OpenReader: %v", err)
				}
				if got := readAllChunks(t, r, rng); got != c.SHA256 {
					t.Errorf("sha256 of the read = %s; want %s (Longhorn's restore)", got, c.SHA256)
				}
				checkRandomReads(t, r, restoredImage(t, fixtureStore(t, c.Folder), c.Volume, c.Backup), rng)
				if s := r.Stats(); s.CachedBytes > 4*mib || s.Objects == 0 || s.FetchedBytes == 0 {
					t.Errorf("stats %+v; want fetches and at most 2 cached blocks", s)
				}
			})
		}
	}
}

func openLZ4(t *testing.T, root string, o ReaderOptions) *Reader {
	t.Helper()
	st, err := OpenStore("file://"+root, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(context.Background(), st.Store, lz4Vol, lz4Full, o)
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	return r
}

func fixtureRoot(t *testing.T, folder string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join(fixtures, folder))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestReaderEOFAndHoles(t *testing.T) {
	t.Parallel()
	r := openLZ4(t, fixtureRoot(t, "lz4-chain"), ReaderOptions{})
	size := r.Size()
	if size != 64*mib {
		t.Fatalf("Size = %d; want 64 MiB", size)
	}
	cases := []struct {
		name    string
		off     int64
		len     int
		wantN   int
		wantErr error
	}{
		{"ends at the end", size - 100, 100, 100, nil},
		{"crosses the end", size - 10, 100, 10, io.EOF},
		{"at the end", size, 10, 0, io.EOF},
		{"past the end", size + 4096, 10, 0, io.EOF},
		{"negative", -1, 10, 0, ErrNegativeOffset},
		{"empty inside", 4096, 0, 0, nil},
	}
	for _, c := range cases {
		n, err := r.ReadAt(make([]byte, c.len), c.off)
		if n != c.wantN || !errors.Is(err, c.wantErr) {
			t.Errorf("%s: ReadAt(%d bytes, %d) = %d, %v; want %d, %v", c.name, c.len, c.off, n, err, c.wantN, c.wantErr)
		}
	}
	before := r.Stats().Objects
	hole := bytes.Repeat([]byte{0xff}, 2*mib)
	if n, err := r.ReadAt(hole, holeOffset); n != len(hole) || err != nil {
		t.Fatalf("ReadAt hole = %d, %v", n, err)
	}
	if !isZero(hole) {
		t.Errorf("an unlisted block did not read as zeros")
	}
	if got := r.Stats().Objects - before; got != 0 {
		t.Errorf("reading an unlisted block fetched %d objects; want 0", got)
	}
}

func TestReaderCacheBound(t *testing.T) {
	t.Parallel()
	root := fixtureRoot(t, "lz4-chain")
	cases := []struct {
		name        string
		cache       int64
		steps       []int64 // block offsets read, 1 KiB each
		wantObjects int64
		wantHits    int64
	}{
		{"one block", 1, []int64{0, 0, 2 * mib, 0, dupOffset}, 3, 2},
		{"two blocks", 4 * mib, []int64{0, 2 * mib, 0, 4 * mib, 0, 2 * mib}, 4, 2},
		{"default", 0, []int64{0, 2 * mib, 4 * mib, 0, 2 * mib, 4 * mib, dupOffset}, 3, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := openLZ4(t, root, ReaderOptions{CacheBytes: c.cache})
			buf := make([]byte, 1024)
			for _, off := range c.steps {
				if _, err := r.ReadAt(buf, off+512); err != nil {
					t.Fatalf("ReadAt %d: %v", off, err)
				}
			}
			s := r.Stats()
			if s.Objects != c.wantObjects || s.Hits != c.wantHits {
				t.Errorf("objects %d, hits %d; want %d, %d", s.Objects, s.Hits, c.wantObjects, c.wantHits)
			}
			if bound := max(c.cache, 2*mib); c.cache > 0 && s.CachedBytes > bound {
				t.Errorf("cached %d bytes; bound %d", s.CachedBytes, bound)
			}
		})
	}
}

// gatedObjects holds every block object open until release is closed and
// counts the opens.
type gatedObjects struct {
	backupstore.Objects
	release chan struct{}
	mu      sync.Mutex
	opens   map[string]int
}

func (g *gatedObjects) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasSuffix(key, ".blk") {
		g.mu.Lock()
		g.opens[key]++
		g.mu.Unlock()
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Objects.Open(ctx, key)
}

func TestReaderConcurrentReadersFetchOnce(t *testing.T) {
	t.Parallel()
	st := fixtureStore(t, "lz4-chain")
	gate := &gatedObjects{Objects: st.Objects(), release: make(chan struct{}), opens: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := OpenReader(ctx, backupstore.New(gate), lz4Vol, lz4Full, ReaderOptions{CacheBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := restoredImage(t, st, lz4Vol, lz4Full)
	const readers = 8
	// Readers of block 0 and of block 9, which lists the same object.
	offs := make([]int64, readers)
	for i := range offs {
		offs[i] = int64(i) * 1000
		if i%2 == 1 {
			offs[i] += dupOffset
		}
	}
	errs := make([]error, readers)
	got := make([][]byte, readers)
	var wg sync.WaitGroup
	for i, off := range offs {
		got[i] = make([]byte, 4096)
		wg.Go(func() { _, errs[i] = r.ReadAt(got[i], off) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.Stats().Waiting < readers {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("after 30s only %d of %d readers wait for the block", r.Stats().Waiting, readers)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate.release)
	wg.Wait()
	for i, off := range offs {
		if errs[i] != nil {
			t.Fatalf("reader %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i], want[off:off+4096]) {
			t.Errorf("reader %d at %d read wrong bytes", i, off)
		}
	}
	wantOpens := map[string]int{backupstore.BlockPath(lz4Vol, r.b.Blocks[0].Checksum): 1}
	if diff := cmp.Diff(wantOpens, gate.opens); diff != "" {
		t.Errorf("block object opens (-want +got):\n%s", diff)
	}
	if s := r.Stats(); s.Objects != 1 || s.Shared != readers-1 {
		t.Errorf("stats %+v; want 1 object fetched and %d readers sharing it", s, readers-1)
	}
}

func TestReaderCorruptBlock(t *testing.T) {
	t.Parallel()
	good := restoredImage(t, fixtureStore(t, "lz4-chain"), lz4Vol, lz4Full)
	root := copyFixture(t, "lz4-chain")
	editFile(t, filepath.Join(root, randomPath), func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
	os.Remove(filepath.Join(root, textPath))
	// A sequential reader fetches the bad blocks ahead too: their errors must
	// still reach the read that asks for them, with their offsets.
	for _, o := range []ReaderOptions{{}, {Sequential: true}, {Sequential: true, BatchChecksums: true}} {
		t.Run(fmt.Sprintf("sequential=%v,batched=%v", o.Sequential, o.BatchChecksums), func(t *testing.T) { checkCorruptReads(t, openLZ4(t, root, o), good) })
	}
}

func checkCorruptReads(t *testing.T, r *Reader, good []byte) {
	cases := []struct {
		name     string
		off      int64
		len      int
		wantN    int
		sentinel error
		msg      string
	}{
		{"flipped byte", 10*mib + 5, 100, 0, backupstore.ErrChecksumMismatch,
			"bak://vol-lz4/backup-7f3a9c21d4e85b60: block at offset 10485760 (" + randomPath + "): block checksum mismatch: content hashes to "},
		{"read ending in the bad block", 8 * mib, 2*mib + 10, 2 * mib, backupstore.ErrChecksumMismatch,
			"bak://vol-lz4/backup-7f3a9c21d4e85b60: block at offset 10485760 ("},
		{"missing block", 4*mib + 7, 10, 0, backupstore.ErrBlockMissing,
			"bak://vol-lz4/backup-7f3a9c21d4e85b60: block at offset 4194304 (" + textPath + "): block missing"},
		{"the same again (errors are not cached)", 10 * mib, 1, 0, backupstore.ErrChecksumMismatch, ""},
		{"good block before", 6 * mib, 2 * mib, 2 * mib, nil, ""},
		{"good block after", 14 * mib, 2 * mib, 2 * mib, nil, ""},
		{"good blocks around a missing one", 2 * mib, 6 * mib, 2 * mib, backupstore.ErrBlockMissing, ""},
	}
	for _, c := range cases {
		p := make([]byte, c.len)
		n, err := r.ReadAt(p, c.off)
		if n != c.wantN || !errors.Is(err, c.sentinel) {
			t.Errorf("%s: ReadAt = %d, %v; want %d, %v", c.name, n, err, c.wantN, c.sentinel)
			continue
		}
		if c.msg != "" && !strings.HasPrefix(err.Error(), c.msg) {
			t.Errorf("%s: error\n got %q\nwant %q...", c.name, err, c.msg)
		}
		if !bytes.Equal(p[:n], good[c.off:c.off+int64(n)]) {
			t.Errorf("%s: the %d bytes read differ from the intact image", c.name, n)
		}
		// Slices lends the same bytes and fails the same way.
		var lent []byte
		err = r.Slices(c.off, int64(c.len), func(b []byte) error { lent = append(lent, b...); return nil })
		if len(lent) != c.wantN || !errors.Is(err, c.sentinel) || (c.msg != "" && !strings.HasPrefix(err.Error(), c.msg)) {
			t.Errorf("%s: Slices lent %d bytes, %v; want %d, %v", c.name, len(lent), err, c.wantN, c.sentinel)
		} else if !bytes.Equal(lent, good[c.off:c.off+int64(len(lent))]) {
			t.Errorf("%s: the %d bytes lent differ from the intact image", c.name, len(lent))
		}
	}
}

// TestReaderSlices: Slices lends what ReadAt reads (zeros for an unlisted
// block, ranges across blocks), stops at the first error of fn and returns
// it as it is, and refuses a range outside the volume.
func TestReaderSlices(t *testing.T) {
	t.Parallel()
	r := openLZ4(t, fixtureRoot(t, "lz4-chain"), ReaderOptions{})
	size := r.Size()
	for _, c := range []struct{ off, n int64 }{
		{0, size}, {holeOffset - 5, 2*mib + 10}, {3*mib + 1, 5 * mib}, {size - 7, 7}, {100, 0},
	} {
		want := make([]byte, c.n)
		if _, err := r.ReadAt(want, c.off); err != nil {
			t.Fatalf("ReadAt(%d, %d): %v", c.n, c.off, err)
		}
		var got []byte
		calls := 0
		if err := r.Slices(c.off, c.n, func(b []byte) error { got = append(got, b...); calls++; return nil }); err != nil {
			t.Fatalf("Slices(%d, %d): %v", c.off, c.n, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Slices(%d, %d) lent %d bytes unlike ReadAt's", c.off, c.n, len(got))
		}
		if c.n > 0 && calls < int((c.off+c.n-1)/(2*mib)-c.off/(2*mib)+1) {
			t.Errorf("Slices(%d, %d): %d calls; want at least one per block", c.off, c.n, calls)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := r.Slices(0, 8*mib, func([]byte) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Slices with fn failing: %v after %d calls; want fn's error itself after 1", err, calls)
	}
	for _, c := range []struct{ off, n int64 }{{-1, 10}, {size - 5, 10}, {size + 1, 0}, {0, -1}} {
		err := r.Slices(c.off, c.n, func([]byte) error { t.Errorf("Slices(%d, %d) called fn", c.off, c.n); return nil })
		if err == nil || !strings.Contains(err.Error(), "outside the volume of") {
			t.Errorf("Slices(%d, %d) = %v; want an error naming the volume's size", c.off, c.n, err)
		}
	}
}

// TestReaderSequentialReadsAhead: a sequential reader fetches the next
// Concurrency listed blocks after each one read, in the background; reading
// them then hits the cache, and the bytes are the restored image's.
func TestReaderSequentialReadsAhead(t *testing.T) {
	t.Parallel()
	good := restoredImage(t, fixtureStore(t, "lz4-chain"), lz4Vol, lz4Full)
	r := openLZ4(t, fixtureRoot(t, "lz4-chain"), ReaderOptions{Sequential: true, Concurrency: 2})
	blocks := r.b.Blocks
	if len(blocks) < 4 {
		t.Fatalf("the fixture lists %d blocks; the test needs 4", len(blocks))
	}
	p := make([]byte, 10)
	if _, err := r.ReadAt(p, blocks[0].Offset); err != nil {
		t.Fatal(err)
	}
	// Blocks 1 and 2 arrive in the background; the test's own deadline bounds
	// the wait.
	for r.Stats().Objects < 3 || r.Stats().CachedBytes < 3*r.BlockSize() {
		time.Sleep(time.Millisecond)
	}
	for _, b := range blocks[1:3] {
		if _, err := r.ReadAt(p, b.Offset); err != nil || !bytes.Equal(p, good[b.Offset:b.Offset+10]) {
			t.Errorf("read at %d: %v, %q; want the image's bytes", b.Offset, err, p)
		}
	}
	s := r.Stats()
	if s.Hits < 2 {
		t.Errorf("stats %+v; want the blocks read ahead served from the cache (2 hits)", s)
	}
	whole := make([]byte, r.Size())
	if n, err := r.ReadAt(whole, 0); n != len(whole) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt(whole) = %d, %v", n, err)
	}
	if !bytes.Equal(whole, good) {
		t.Error("the sequential reader's image differs from the restored image")
	}
}

func TestOpenReaderRefuses(t *testing.T) {
	t.Parallel()
	st := fixtureStore(t, "lz4-chain")
	if _, err := OpenReader(context.Background(), st.Store, lz4Vol, "backup-nope", ReaderOptions{}); !errors.Is(err, backupstore.ErrBackupNotFound) {
		t.Errorf("unknown backup: %v; want %v", err, backupstore.ErrBackupNotFound)
	}
	root := copyFixture(t, "lz4-chain")
	editFile(t, filepath.Join(root, fullCfg), replaceIn(`"CreatedTime":"2026-11-23T22:21:40Z"`, `"CreatedTime":""`))
	st2, err := OpenStore("file://"+root, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReader(context.Background(), st2.Store, lz4Vol, lz4Full, ReaderOptions{}); !errors.Is(err, backupstore.ErrInProgress) {
		t.Errorf("in-progress backup: %v; want %v", err, backupstore.ErrInProgress)
	}
	_, err = OpenReader(context.Background(), st.Store, lz4Vol, lz4Full, ReaderOptions{CacheBytes: -1})
	if want := "cache size -1 bytes; expected 0 (default 64 MiB) or a positive number of bytes"; err == nil || err.Error() != want {
		t.Errorf("negative cache: %v; want %s", err, want)
	}
}

// TestReaderRetriesTransientStoreErrors: 503s beyond the S3 client's own
// retries are retried as Restore retries them; a store that stays down is a
// read error naming the block, not a checksum problem.
func TestReaderRetriesTransientStoreErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		failures int
		wantErr  string
	}{
		{name: "outlasting the client's retries", failures: 4},
		{name: "persistent 503", failures: 1 << 30,
			wantErr: "bak://vol-gzip/backup-5b2e8d1f0c4a9367: block at offset 0 (backupstore/volumes/8b/14/vol-gzip/blocks/27/fc/27fcb8a5e7aa642782f69015a96be64c52b28201c7954cd91d3f205de1dffbcb.blk): read block (attempt 5): get s3://backups/gzip-single/backupstore/volumes/8b/14/vol-gzip/blocks/27/fc/27fcb8a5e7aa642782f69015a96be64c52b28201c7954cd91d3f205de1dffbcb.blk: Please reduce your request rate."},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, open := s3Fixture(t, c.failures)
			r, err := OpenReader(context.Background(), open("gzip-single").Store, "vol-gzip", "backup-5b2e8d1f0c4a9367", ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := restoredImage(t, fixtureStore(t, "gzip-single"), "vol-gzip", "backup-5b2e8d1f0c4a9367")
			got := make([]byte, 4096)
			n, err := r.ReadAt(got, 100)
			if c.wantErr != "" {
				if n != 0 || err == nil || err.Error() != c.wantErr {
					t.Errorf("ReadAt = %d, %v; want 0, %s", n, err, c.wantErr)
				}
				if errors.Is(err, backupstore.ErrChecksumMismatch) || errors.Is(err, backupstore.ErrBlockMissing) {
					t.Errorf("a store outage reported as %v", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, want[100:100+4096]) {
				t.Errorf("ReadAt = %d, %v; want the image's bytes", n, err)
			}
		})
	}
}

// TestReaderReadAheadKeepsReadBlocks: a sequential reader with batched
// checksums fetches many blocks ahead into a cache of four blocks, yet every
// block object is fetched once while one "metadata" block is read between
// all the others (blocks fetched ahead wait apart from the cache, and a
// block read again does not start more fetches), and the bytes are the
// image's. Before, the blocks fetched ahead pushed the metadata out.
func TestReaderReadAheadKeepsReadBlocks(t *testing.T) {
	t.Parallel()
	const mi = 1 << 20
	ctx := context.Background()
	_, st, img := blocksBackup(t, "vol-ahead", 24, 5, backupstore.CompressionLZ4)
	good, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []ReaderOptions{
		{Sequential: true, CacheBytes: 8 * mi, Concurrency: 4},
		{Sequential: true, CacheBytes: 8 * mi, Concurrency: 4, BatchChecksums: true},
		{Sequential: true, CacheBytes: 8 * mi, BatchChecksums: true},
	} {
		r, err := OpenReader(ctx, st.Store, "vol-ahead", "backup-one", o)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, mi)
		read := func(off int64) {
			if _, err := r.ReadAt(p, off); err != nil {
				t.Fatalf("%+v: read at %d: %v", o, off, err)
			}
			if !bytes.Equal(p, good[off:off+mi]) {
				t.Fatalf("%+v: the bytes at %d differ from the image's", o, off)
			}
		}
		for off := int64(2 * mi); off < 48*mi; off += mi {
			read(off)
			read(mi / 2) // the metadata, in block 0
		}
		if s := r.Stats(); s.Objects != 24 {
			t.Errorf("%+v: %d block objects fetched (%+v); want each of the 24 once", o, s.Objects, s)
		}
	}
}

// TestReaderReusesBlockMemory: readers reading a backup of 24 blocks over and
// over, concurrently, through ReadAt and Slices, with a cache of 4 blocks and
// reads ahead, get the image's bytes every time while the reader allocates
// no more block memory than can be held at once: the rest is the memory of
// blocks released by the cache and by the reads.
func TestReaderReusesBlockMemory(t *testing.T) {
	t.Parallel()
	_, st, img := blocksBackup(t, "vol-reuse", 24, 9, backupstore.CompressionLZ4)
	want, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(context.Background(), st.Store, "vol-reuse", "backup-one", ReaderOptions{CacheBytes: 8 * mib, Sequential: true, BatchChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	const readers = 4
	var wg sync.WaitGroup
	for g := range readers {
		wg.Go(func() {
			for pass := range 3 {
				got := make([]byte, 0, len(want))
				var err error
				if (g+pass)%2 == 0 {
					p := make([]byte, 768<<10) // reads across block boundaries
					for off := int64(0); off < r.Size() && err == nil; off += int64(len(p)) {
						var n int
						n, err = r.ReadAt(p, off)
						got = append(got, p[:n]...)
					}
				} else {
					err = r.Slices(0, r.Size(), func(b []byte) error {
						time.Sleep(time.Millisecond) // long enough for the other readers to push its block out
						got = append(got, b...)
						return nil
					})
				}
				if err != nil && !errors.Is(err, io.EOF) {
					t.Errorf("reader %d, pass %d: %v", g, pass, err)
					return
				}
				if !bytes.Equal(got, want) {
					t.Errorf("reader %d, pass %d: %d bytes unlike the image", g, pass, len(got))
					return
				}
			}
		})
	}
	wg.Wait()
	// Cached, ahead (and the one read), being fetched, and held by the
	// readers (a read across a boundary holds two).
	bound := int64(r.cache.max + r.ahead + 1 + cap(r.pool) + 2*readers)
	if s, allocated := r.Stats(), r.free.allocated.Load(); allocated > bound || s.Objects <= bound {
		t.Errorf("%d objects fetched into %d blocks of new memory; want more objects than %d and at most that many blocks", s.Objects, allocated, bound)
	}
}

// TestReaderFirstBatchesGrow: with batched checksums the first read starts
// firstBatch fetches ahead, not a whole batch, and each later readahead
// starts twice as many up to the window, so a filesystem's first reads wait
// for a few blocks; the whole image still reads right, each object once.
func TestReaderFirstBatchesGrow(t *testing.T) {
	t.Parallel()
	const mi = 1 << 20
	ctx := context.Background()
	_, st, img := blocksBackup(t, "vol-ramp", 40, 11, backupstore.CompressionLZ4)
	good, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(ctx, st.Store, "vol-ramp", "backup-one", ReaderOptions{Sequential: true, Concurrency: 8, BatchChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.ahead != 16 || r.together != 8 || r.batch != firstBatch {
		t.Fatalf("ahead %d, together %d, first batch %d; want 16, 8, %d", r.ahead, r.together, r.batch, firstBatch)
	}
	// settled waits until no fetch ahead is in flight; the test's own
	// deadline bounds the wait.
	settled := func() int64 {
		for {
			r.mu.Lock()
			n := len(r.pending)
			r.mu.Unlock()
			if n == 0 {
				return r.Stats().Objects
			}
			time.Sleep(time.Millisecond)
		}
	}
	p := make([]byte, 10)
	for i, want := range []int64{1 + firstBatch, 1 + firstBatch + 2*firstBatch} {
		off := r.b.Blocks[i].Offset
		if _, err := r.ReadAt(p, off); err != nil || !bytes.Equal(p, good[off:off+10]) {
			t.Fatalf("read of block %d: %v", i, err)
		}
		if got := settled(); got != want {
			t.Errorf("after reading block %d: %d objects fetched; want %d (block 0, then batches of %d and %d ahead)", i, got, want, firstBatch, 2*firstBatch)
		}
	}
	// The rest front to back, as a filesystem copy reads.
	chunk := make([]byte, mi)
	for off := int64(0); off < r.Size(); off += mi {
		if _, err := r.ReadAt(chunk, off); err != nil || !bytes.Equal(chunk, good[off:off+mi]) {
			t.Fatalf("read at %d: %v, or bytes that differ from the image's", off, err)
		}
	}
	if s := r.Stats(); s.Objects != 40 {
		t.Errorf("%d objects fetched (%+v); want each of the 40 once", s.Objects, s)
	}
	if r.batch != r.ahead {
		t.Errorf("batch %d after the whole image; want the window, %d", r.batch, r.ahead)
	}
}
