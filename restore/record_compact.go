package restore

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/bits"
	"strings"
	"sync"
)

// A compact record is a progress record small enough for a Kubernetes
// termination message (4096 bytes) or an annotation: "sr1." and the base64
// (standard alphabet, unpadded) of a big-endian CRC-32C of the payload
// followed by the gzip'd payload. The payload is a JSON header line (the
// RecordHeader, the number of block objects in the plan and the finished
// prefix), then a bitmap: bit i%8 of byte i/8 (least significant first) set
// when object prefix+i of the plan is finished. The bitmap is cut after its
// last set bit.
const compactMagic = "sr1."

// maxCompactPayload bounds what a decoded record may inflate to: a 16 MiB
// bitmap covers 128 Mi block objects (256 TiB of 2 MiB blocks).
const maxCompactPayload = 16<<20 + 4096

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBadRecord is wrapped by every DecodeRecord error.
var ErrBadRecord = errors.New("not a valid resume record")

// CompactRecord is a decoded compact record.
type CompactRecord struct {
	Header RecordHeader
	// Objects is the number of block objects in the restore's plan.
	Objects int
	// Prefix: objects [0, Prefix) of the plan are finished.
	Prefix int
	// Bitmap: object Prefix+i is finished when bit i%8 of Bitmap[i/8] is set.
	Bitmap []byte
}

type compactHeader struct {
	RecordHeader
	Objects int `json:"objects"`
	Prefix  int `json:"prefix"`
}

// Done reports whether object i of the plan is finished.
func (c CompactRecord) Done(i int) bool {
	if i < c.Prefix {
		return i >= 0
	}
	j := i - c.Prefix
	return j/8 < len(c.Bitmap) && c.Bitmap[j/8]&(1<<(j%8)) != 0
}

// Finished counts the finished objects.
func (c CompactRecord) Finished() int {
	n := c.Prefix
	for _, b := range c.Bitmap {
		n += bits.OnesCount8(b)
	}
	return n
}

// EncodeRecord encodes the finished objects done (one per object of the plan
// of restore h) in at most budget characters: the whole set when it fits,
// else only its longest finished prefix (a subset of what is done is always
// safe to resume from), else "". Nothing finished is "" too. recorded is the
// number of objects the record lists.
func EncodeRecord(h RecordHeader, done []bool, budget int) (record string, recorded int) {
	prefix := 0
	for prefix < len(done) && done[prefix] {
		prefix++
	}
	rest := done[prefix:]
	last := -1
	for i, d := range rest {
		if d {
			last = i
		}
	}
	if prefix == 0 && last < 0 {
		return "", 0
	}
	bitmap := make([]byte, (last+8)/8)
	recorded = prefix
	for i := 0; i <= last; i++ {
		if rest[i] {
			bitmap[i/8] |= 1 << (i % 8)
			recorded++
		}
	}
	c := CompactRecord{Header: h, Objects: len(done), Prefix: prefix, Bitmap: bitmap}
	if s := c.encode(); len(s) <= budget {
		return s, recorded
	}
	if prefix == 0 {
		return "", 0
	}
	c.Bitmap = nil
	if s := c.encode(); len(s) <= budget {
		return s, prefix
	}
	return "", 0
}

func (c CompactRecord) encode() string {
	hdr, _ := json.Marshal(compactHeader{RecordHeader: c.Header, Objects: c.Objects, Prefix: c.Prefix})
	payload := append(append(hdr, '\n'), c.Bitmap...)
	var buf bytes.Buffer
	buf.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(payload, castagnoli)))
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(payload)
	zw.Close()
	return compactMagic + base64.RawStdEncoding.EncodeToString(buf.Bytes())
}

// DecodeRecord reads a compact record. A torn, altered or foreign string is
// an error wrapping ErrBadRecord that says what is wrong; it never panics.
func DecodeRecord(s string) (CompactRecord, error) {
	bad := func(format string, args ...any) (CompactRecord, error) {
		return CompactRecord{}, fmt.Errorf("%w: %s", ErrBadRecord, fmt.Sprintf(format, args...))
	}
	body, ok := strings.CutPrefix(s, compactMagic)
	if !ok {
		return bad("expected a string starting with %q, got %q", compactMagic, s[:min(len(s), 8)])
	}
	raw, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil {
		return bad("base64: %v", err)
	}
	if len(raw) < 4 {
		return bad("%d bytes; expected a 4-byte checksum and gzip data", len(raw))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw[4:]))
	if err != nil {
		return bad("gzip: %v", err)
	}
	payload, err := io.ReadAll(io.LimitReader(zr, maxCompactPayload+1))
	if err != nil {
		return bad("gzip: %v", err)
	}
	if len(payload) > maxCompactPayload {
		return bad("inflates to more than %d bytes", maxCompactPayload)
	}
	if want, got := binary.BigEndian.Uint32(raw), crc32.Checksum(payload, castagnoli); want != got {
		return bad("checksum %08x; the payload's is %08x", want, got)
	}
	line, bitmap, ok := bytes.Cut(payload, []byte{'\n'})
	if !ok {
		return bad("no header line")
	}
	var h compactHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return bad("header: %v", err)
	}
	c := CompactRecord{Header: h.RecordHeader, Objects: h.Objects, Prefix: h.Prefix, Bitmap: bitmap}
	if h.Prefix < 0 || h.Objects < h.Prefix {
		return bad("prefix %d of %d objects; expected 0 ≤ prefix ≤ objects", h.Prefix, h.Objects)
	}
	n := h.Objects - h.Prefix
	if len(bitmap) > (n+7)/8 || len(bitmap) == (n+7)/8 && n%8 != 0 && bitmap[len(bitmap)-1]>>(n%8) != 0 {
		return bad("the bitmap of %d bytes marks objects past the %d after the prefix", len(bitmap), n)
	}
	return c, nil
}

// CompactStore is a RecordStore kept in memory and published as a compact
// record after every durable append (the populator pod's termination
// message). It resumes from the compact record of an earlier run.
type CompactStore struct {
	prev    string
	budget  int
	publish func(CompactProgress) error

	mu       sync.Mutex
	h        RecordHeader
	index    map[string]int
	loaded   []bool
	done     []bool
	finished int
	last     string
}

// CompactProgress is what a CompactStore publishes.
type CompactProgress struct {
	// Record is the compact record; "" when nothing is recorded yet.
	Record string
	// Recorded is the number of objects Record lists (fewer than Finished when
	// the budget kept only the finished prefix); Finished of Total are done.
	Recorded, Finished, Total int
}

// NewCompactStore resumes from prev ("" for none); each record it publishes
// has at most budget characters.
func NewCompactStore(prev string, budget int, publish func(CompactProgress) error) *CompactStore {
	return &CompactStore{prev: prev, budget: budget, publish: publish}
}

func (s *CompactStore) String() string { return "the resume record" }

// Load decodes the earlier run's record and checks it names restore h with
// the same number of objects.
func (s *CompactStore) Load(h RecordHeader, objects []string) (map[string]bool, error) {
	if s.prev == "" {
		return nil, fmt.Errorf("no resume record: %w", fs.ErrNotExist)
	}
	c, err := DecodeRecord(s.prev)
	if err != nil {
		return nil, err
	}
	if c.Header != h || c.Objects != len(objects) {
		return nil, fmt.Errorf("the resume record belongs to a restore of %s (incremental from %q, %d bytes, %d-byte blocks, %d block objects); expected %s (incremental from %q, %d bytes, %d-byte blocks, %d block objects)",
			c.Header.Backup, c.Header.IncrementalFrom, c.Header.VolumeSize, c.Header.BlockSize, c.Objects,
			h.Backup, h.IncrementalFrom, h.VolumeSize, h.BlockSize, len(objects))
	}
	s.loaded = make([]bool, len(objects))
	done := map[string]bool{}
	for i, o := range objects {
		if c.Done(i) {
			s.loaded[i], done[o] = true, true
		}
	}
	return done, nil
}

// Begin starts from the loaded record (resume) or from nothing, and publishes
// what it starts from.
func (s *CompactStore) Begin(h RecordHeader, objects []string, resume bool) error {
	s.mu.Lock()
	s.h, s.index, s.done, s.finished = h, make(map[string]int, len(objects)), make([]bool, len(objects)), 0
	for i, o := range objects {
		s.index[o] = i
		if resume && s.loaded != nil && s.loaded[i] {
			s.done[i] = true
			s.finished++
		}
	}
	s.mu.Unlock()
	return s.flush()
}

// Append marks objects finished and publishes the new record.
func (s *CompactStore) Append(done []string) error {
	s.mu.Lock()
	for _, o := range done {
		if i, ok := s.index[o]; ok && !s.done[i] {
			s.done[i] = true
			s.finished++
		}
	}
	s.mu.Unlock()
	return s.flush()
}

func (s *CompactStore) flush() error {
	s.mu.Lock()
	rec, recorded := EncodeRecord(s.h, s.done, s.budget)
	s.last = rec
	p := CompactProgress{Record: rec, Recorded: recorded, Finished: s.finished, Total: len(s.done)}
	s.mu.Unlock()
	if s.publish == nil {
		return nil
	}
	return s.publish(p)
}

// Close leaves the last published record standing.
func (s *CompactStore) Close() error { return nil }

// Remove: a complete restore needs no record; the caller publishes its result.
func (s *CompactStore) Remove() error { return nil }

// Last is the last record published ("" before the first).
func (s *CompactStore) Last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
