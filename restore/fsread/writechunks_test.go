package fsread

import (
	"bytes"
	"errors"
	"testing"
)

// recorder is an io.WriterAt that keeps every write it gets.
type recorder struct {
	buf    []byte
	writes [][2]int64 // offset, length
	failAt int        // the write (1-based) that fails; 0: none
}

func (r *recorder) WriteAt(p []byte, off int64) (int, error) {
	r.writes = append(r.writes, [2]int64{off, int64(len(p))})
	if len(r.writes) == r.failAt {
		return 0, errors.New("disk full")
	}
	if end := off + int64(len(p)); end > int64(len(r.buf)) {
		r.buf = append(r.buf, make([]byte, end-int64(len(r.buf)))...)
	}
	copy(r.buf[off:], p)
	return len(p), nil
}

func TestWriteChunks(t *testing.T) {
	p := make([]byte, 2*writeChunk+5)
	for i := range p {
		p[i] = byte(i * 7)
	}
	var r recorder
	if err := writeChunks(&r, p, 9); err != nil {
		t.Fatal(err)
	}
	want := [][2]int64{{9, writeChunk}, {9 + writeChunk, writeChunk}, {9 + 2*writeChunk, 5}}
	if len(r.writes) != len(want) {
		t.Fatalf("writes %v, want %v", r.writes, want)
	}
	for i := range want {
		if r.writes[i] != want[i] {
			t.Errorf("write %d at offset %d of %d bytes, want offset %d, %d bytes", i, r.writes[i][0], r.writes[i][1], want[i][0], want[i][1])
		}
	}
	if !bytes.Equal(r.buf[9:], p) {
		t.Error("the bytes written differ from the bytes given")
	}

	failing := recorder{failAt: 2}
	if err := writeChunks(&failing, p, 0); err == nil || err.Error() != "disk full" {
		t.Errorf("a failed write returned %v, want its error", err)
	}
	if len(failing.writes) != 2 {
		t.Errorf("%d writes after the failed second one, want none more", len(failing.writes)-2)
	}
}
