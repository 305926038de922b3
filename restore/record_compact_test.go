package restore

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/test/testenv"
)

var compactHdr = RecordHeader{Version: 1, Backup: "bak://vol/backup-1", VolumeSize: 4 << 40, BlockSize: 2 << 20}

// budget of the populator's record (the whole termination message stays
// under the kubelet's 4096 bytes).
const testBudget = 2048

func doneSet(n int, pick func(i int) bool) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = pick(i)
	}
	return d
}

func checkRecord(t *testing.T, rec string, h RecordHeader, done []bool, wantRecorded int) CompactRecord {
	t.Helper()
	c, err := DecodeRecord(rec)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if c.Header != h || c.Objects != len(done) {
		t.Fatalf("decoded header %+v, %d objects; want %+v, %d", c.Header, c.Objects, h, len(done))
	}
	for i := range done {
		if c.Done(i) && !done[i] {
			t.Fatalf("object %d is recorded as finished but is not", i)
		}
	}
	if got := c.Finished(); got != wantRecorded {
		t.Errorf("record lists %d finished objects; want %d", got, wantRecorded)
	}
	return c
}

func TestCompactRecordRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	done := doneSet(5000, func(i int) bool { return i < 1200 || rng.IntN(3) == 0 })
	want := 0
	for _, d := range done {
		if d {
			want++
		}
	}
	rec, recorded := EncodeRecord(compactHdr, done, testBudget)
	if recorded != want {
		t.Errorf("recorded %d; want all %d finished", recorded, want)
	}
	c := checkRecord(t, rec, compactHdr, done, want)
	for i := range done {
		if c.Done(i) != done[i] {
			t.Fatalf("object %d: decoded %v, encoded %v", i, c.Done(i), done[i])
		}
	}
	if c.Prefix != 1200 {
		t.Errorf("prefix %d; want 1200", c.Prefix)
	}
	if rec, n := EncodeRecord(compactHdr, make([]bool, 10), testBudget); rec != "" || n != 0 {
		t.Errorf("nothing finished encodes as %q (%d); want no record", rec, n)
	}
}

// TestCompactRecordBudget: 4 TiB of 2 MiB blocks (2 Mi objects) in the
// patterns that compress worst stay within the budget, as the full set when
// it fits and as the finished prefix otherwise.
func TestCompactRecordBudget(t *testing.T) {
	t.Parallel()
	const n = 2 << 20
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name   string
		done   []bool
		prefix int // what must be recorded when the set does not fit
	}{
		{name: "alternating", done: doneSet(n, func(i int) bool { return i%2 == 0 }), prefix: 1},
		{name: "random after a prefix", done: doneSet(n, func(i int) bool { return i < 70000 || i > 70000 && rng.IntN(2) == 0 }), prefix: 70000},
		{name: "all but the last", done: doneSet(n, func(i int) bool { return i < n-1 }), prefix: n - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, recorded := EncodeRecord(compactHdr, tc.done, testBudget)
			if len(rec) > testBudget {
				t.Fatalf("record of %d characters; budget %d", len(rec), testBudget)
			}
			c := checkRecord(t, rec, compactHdr, tc.done, recorded)
			if len(c.Bitmap) == 0 && recorded != tc.prefix {
				t.Errorf("truncated to %d objects; want the finished prefix %d", recorded, tc.prefix)
			}
			if recorded < tc.prefix {
				t.Errorf("recorded %d objects; want at least the finished prefix %d", recorded, tc.prefix)
			}
			t.Logf("%s: %d characters, %d of %d objects recorded (prefix %d, bitmap %d bytes)", tc.name, len(rec), recorded, n, c.Prefix, len(c.Bitmap))
		})
	}
	t.Run("random without a prefix", func(t *testing.T) {
		done := doneSet(n, func(i int) bool { return i > 0 && rng.IntN(2) == 0 })
		if rec, recorded := EncodeRecord(compactHdr, done, testBudget); rec != "" || recorded != 0 {
			t.Errorf("got a record of %d characters listing %d objects; want none (nothing safe fits)", len(rec), recorded)
		}
	})
}

func TestCompactRecordCorrupt(t *testing.T) {
	t.Parallel()
	done := doneSet(300, func(i int) bool { return i < 100 || i%7 == 0 })
	rec, _ := EncodeRecord(compactHdr, done, testBudget)
	flipped := []byte(rec)
	flipped[len(flipped)/2] ^= 0x01
	cases := map[string]string{
		"empty":     "",
		"no magic":  strings.TrimPrefix(rec, compactMagic),
		"flipped":   string(flipped),
		"not b64":   compactMagic + "!!!!",
		"too short": compactMagic + "AAA",
		"json":      `{"succeeded":true}`,
	}
	for n := len(compactMagic); n < len(rec); n += 7 {
		cases["torn at "+string(rune('0'+n%10))+strings.Repeat("x", n/10)] = rec[:n]
	}
	for name, s := range cases {
		if _, err := DecodeRecord(s); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: DecodeRecord = %v; want an error wrapping ErrBadRecord", name, err)
		}
	}
	// A valid payload claiming objects past its count.
	c := CompactRecord{Header: compactHdr, Objects: 9, Prefix: 2, Bitmap: []byte{0xff}}
	if _, err := DecodeRecord(c.encode()); !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), "past the 7 after the prefix") {
		t.Errorf("bitmap past the objects: %v; want it refused", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	rec, _ := EncodeRecord(compactHdr, doneSet(40, func(i int) bool { return i%3 != 1 }), testBudget)
	f.Add(rec)
	f.Add(compactMagic)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeRecord(s)
		if err != nil {
			return
		}
		if c.Finished() > c.Objects {
			t.Errorf("record of %d objects lists %d finished", c.Objects, c.Finished())
		}
	})
}

// TestCompactStoreResume: a restore through a CompactStore publishes records
// that a second run resumes from; a record of another backup is discarded
// with the reason and the restore starts over; the image is right each time.
func TestCompactStoreResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := fixtureStore(t, "gzip-single")
	const vol, bak, sha = "vol-gzip", "backup-5b2e8d1f0c4a9367", "4e90e706e2a273f7a2e0c03b0a5f987c36d6fb740ad5eaeac722b9192f763a16"
	target := filepath.Join(t.TempDir(), "image")
	if _, err := Restore(ctx, st.Store, vol, bak, target, Options{}); err != nil {
		t.Fatal(err)
	}
	// What the pod publishes: the start, then each durable append.
	hdr := RecordHeader{Version: 1, Backup: "bak://" + vol + "/" + bak, VolumeSize: 32 << 20, BlockSize: 2 << 20}
	objs := []string{"a", "b", "c", "d"}
	var published []CompactProgress
	pub := NewCompactStore("", testBudget, func(p CompactProgress) error { published = append(published, p); return nil })
	if err := pub.Begin(hdr, objs, false); err != nil {
		t.Fatal(err)
	}
	if err := pub.Append([]string{"a", "c", "d"}); err != nil {
		t.Fatal(err)
	}
	if len(published) != 2 || published[0].Record != "" || published[1].Recorded != 3 || published[1].Total != 4 || pub.Last() != published[1].Record {
		t.Fatalf("published %+v; want nothing at the start, then a record of 3 of 4 objects", published)
	}
	last := published[1]

	var discarded []error
	sum, err := Restore(ctx, st.Store, vol, bak, target, Options{Record: NewCompactStore(last.Record, testBudget, nil), Force: true, Resume: true,
		RecordDiscarded: func(err error) { discarded = append(discarded, err) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Resumed != 3 || sum.Objects != 1 || len(discarded) != 0 {
		t.Errorf("resume summary %+v, discarded %v; want 3 objects resumed and 1 restored", sum, discarded)
	}
	if got := testenv.FileSHA256(t, target); got != sha {
		t.Errorf("resumed image sha256 %s; want %s", got, sha)
	}

	other := compactHdr
	foreign, _ := EncodeRecord(other, []bool{true, true, true, true}, testBudget)
	for name, prev := range map[string]string{"another backup": foreign, "torn": last.Record[:len(last.Record)-5]} {
		discarded = nil
		sum, err = Restore(ctx, st.Store, vol, bak, target, Options{Record: NewCompactStore(prev, testBudget, nil), Force: true, Resume: true,
			RecordDiscarded: func(err error) { discarded = append(discarded, err) }})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sum.Resumed != 0 || sum.Objects != 4 || len(discarded) != 1 {
			t.Errorf("%s: summary %+v, discarded %v; want the record discarded once and all 4 objects restored", name, sum, discarded)
		}
		if got := testenv.FileSHA256(t, target); got != sha {
			t.Errorf("%s: image sha256 %s; want %s", name, got, sha)
		}
	}
}

// BenchmarkEncodeRecord: one flush's encoding for a 4 TiB volume of 2 MiB
// blocks, half finished in order and the rest at random.
func BenchmarkEncodeRecord(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	done := doneSet(2<<20, func(i int) bool { return i < 1<<20 || rng.IntN(2) == 0 })
	for b.Loop() {
		EncodeRecord(compactHdr, done, testBudget)
	}
}
