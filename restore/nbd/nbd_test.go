package nbd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

const fixtures = "../testdata/longhorn-backupstore"

// tool finds an NBD client tool; a missing one fails the test
// (hack/test-deps.sh installs Debian's libnbd-bin).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (%v); install Debian's libnbd-bin (hack/test-deps.sh)", name, err)
	}
	return p
}

func openStore(t *testing.T, root string) *backupstore.Store {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := restore.OpenStore("file://"+abs, restore.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st.Store
}

// serving is a Run in the background on a free port.
type serving struct {
	url    string
	export Export
	errs   chan error // what Errors reported
	done   chan error // Run's result
	cancel context.CancelFunc
}

func serve(t *testing.T, st *backupstore.Store, volume, backup string, o Options) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{errs: make(chan error, 16), done: make(chan error, 1), cancel: cancel}
	ready := make(chan struct{})
	o.Listen = "127.0.0.1:0"
	o.Ready = func(e Export, a net.Addr) { s.export, s.url = e, "nbd://"+a.String(); close(ready) }
	o.Errors = func(err error) {
		select {
		case s.errs <- err:
		default:
		}
	}
	go func() { s.done <- Run(ctx, st, volume, backup, o) }()
	select {
	case <-ready:
	case err := <-s.done:
		cancel()
		t.Fatalf("Run ended before serving: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("Run not listening after 30s")
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels Run and requires a clean nil return.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok && err != nil {
			t.Errorf("Run after cancel = %v; want nil", err)
		}
		if ok {
			close(s.done)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run still serving 30s after cancel")
	}
}

func TestNbdcopyEqualsLonghornsImage(t *testing.T) {
	t.Parallel()
	nbdcopy := tool(t, "nbdcopy")
	for _, c := range testenv.Cases(t, filepath.Join(fixtures, "CASES")) {
		t.Run(c.Folder+"/"+c.Backup, func(t *testing.T) {
			t.Parallel()
			s := serve(t, openStore(t, filepath.Join(fixtures, c.Folder)), c.Volume, c.Backup, Options{})
			out := filepath.Join(t.TempDir(), "copy.img")
			if b, err := exec.Command(nbdcopy, s.url, out).CombinedOutput(); err != nil {
				t.Fatalf("nbdcopy %s: %v\n%s", s.url, err, b)
			}
			if got := testenv.FileSHA256(t, out); got != c.SHA256 {
				t.Errorf("sha256 of the copy %s; want %s (Longhorn's restore)", got, c.SHA256)
			}
		})
	}
}

func TestNbdinfoShowsSizeAndReadOnly(t *testing.T) {
	t.Parallel()
	nbdinfo := tool(t, "nbdinfo")
	s := serve(t, openStore(t, filepath.Join(fixtures, "lz4-chain")), "vol-lz4", "backup-7f3a9c21d4e85b60", Options{})
	out, err := exec.Command(nbdinfo, "--json", s.url).Output()
	if err != nil {
		t.Fatalf("nbdinfo --json %s: %v", s.url, err)
	}
	var info struct {
		Exports []struct {
			Name        string `json:"export-name"`
			Description string `json:"description"`
			ReadOnly    bool   `json:"is_read_only"`
			Size        int64  `json:"export-size"`
		} `json:"exports"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("nbdinfo JSON: %v\n%s", err, out)
	}
	t.Logf("nbdinfo --json:\n%s", out)
	if len(info.Exports) != 1 {
		t.Fatalf("nbdinfo lists %d exports; want 1:\n%s", len(info.Exports), out)
	}
	e := info.Exports[0]
	if e.Size != 64<<20 || !e.ReadOnly || e.Description != "bak://vol-lz4/backup-7f3a9c21d4e85b60" {
		t.Errorf("nbdinfo: size %d, read-only %v, description %q; want 64 MiB, true, the handle\n%s", e.Size, e.ReadOnly, e.Description, out)
	}
}

func TestWritesAreRefused(t *testing.T) {
	t.Parallel()
	nbdcopy := tool(t, "nbdcopy")
	s := serve(t, openStore(t, filepath.Join(fixtures, "gzip-single")), "vol-gzip", "backup-5b2e8d1f0c4a9367", Options{})
	src := filepath.Join(t.TempDir(), "src.img")
	if err := os.WriteFile(src, []byte(strings.Repeat("overwrite", 1<<16)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nbdcopy, src, s.url).CombinedOutput(); err == nil {
		t.Errorf("nbdcopy into the export succeeded; want a refusal\n%s", out)
	}
	// A client that writes anyway (ignoring the read-only flag) gets EPERM,
	// and the volume is unchanged.
	c := dialNBD(t, strings.TrimPrefix(s.url, "nbd://"))
	if c.flags&flagReadOnly == 0 {
		t.Errorf("transmission flags %#x lack NBD_FLAG_READ_ONLY", c.flags)
	}
	before := c.read(t, 0, 4096)
	if errno := c.write(t, 0, make([]byte, 4096)); errno != 1 {
		t.Errorf("write reply error %d; want EPERM (1)", errno)
	}
	if after := c.read(t, 0, 4096); string(after) != string(before) {
		t.Errorf("the export changed after a refused write")
	}
	c.disconnect(t)
}

func TestCorruptBlockEndsTheClientNotTheServer(t *testing.T) {
	t.Parallel()
	nbdcopy := tool(t, "nbdcopy")
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join(fixtures, "lz4-chain"))); err != nil {
		t.Fatal(err)
	}
	blk := filepath.Join(root, "backupstore/volumes/19/25/vol-lz4/blocks/bf/b0/bfb0d1f68ace255a6b9d28fcd51df26ecf3e6b54a492acb7eeeeebd08509bba0.blk")
	data, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(blk, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := serve(t, openStore(t, root), "vol-lz4", "backup-7f3a9c21d4e85b60", Options{})
	if out, err := exec.Command(nbdcopy, s.url, filepath.Join(t.TempDir(), "copy.img")).CombinedOutput(); err == nil {
		t.Errorf("nbdcopy of an export with a corrupt block succeeded\n%s", out)
	}
	select {
	case err := <-s.errs:
		if !errors.Is(err, backupstore.ErrChecksumMismatch) || !strings.Contains(err.Error(), "block at offset 10485760 (backupstore/volumes/19/25/vol-lz4/blocks/bf/b0/") {
			t.Errorf("reported %v; want the checksum mismatch at offset 10485760 with its object path", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no error reported 30s after the failed copy")
	}
	c := dialNBD(t, strings.TrimPrefix(s.url, "nbd://"))
	if got := c.read(t, 4<<20, 16); len(got) != 16 {
		t.Errorf("an intact block after the failure: %d bytes", len(got))
	}
	c.disconnect(t)
}

func TestStopWithClientsConnected(t *testing.T) {
	t.Parallel()
	s := serve(t, openStore(t, filepath.Join(fixtures, "gzip-single")), "vol-gzip", "backup-5b2e8d1f0c4a9367", Options{})
	c := dialNBD(t, strings.TrimPrefix(s.url, "nbd://"))
	c.read(t, 0, 512)
	s.stop(t) // Run returns nil although a client is connected
	if _, err := c.conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("the client's connection is still open after the stop")
	}
}

func TestRunRefuses(t *testing.T) {
	t.Parallel()
	st := openStore(t, filepath.Join(fixtures, "lz4-chain"))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name     string
		backup   string
		o        Options
		sentinel error
		msg      string
	}{
		{"no address", "backup-7f3a9c21d4e85b60", Options{}, nil, "listen address is required: host:port, such as 127.0.0.1:10809"},
		{"address without port", "backup-7f3a9c21d4e85b60", Options{Listen: "127.0.0.1"}, nil, `listen address "127.0.0.1": address 127.0.0.1: missing port in address; expected host:port, such as 127.0.0.1:10809`},
		{"address in use", "backup-7f3a9c21d4e85b60", Options{Listen: busy.Addr().String()}, nil, "listen on " + busy.Addr().String() + ": "},
		{"unknown backup", "backup-nope", Options{Listen: "127.0.0.1:0"}, backupstore.ErrBackupNotFound, "backup not found: bak://vol-lz4/backup-nope"},
		{"partition of an unpartitioned volume", "backup-7f3a9c21d4e85b60", Options{Listen: "127.0.0.1:0", Partition: 1}, nil,
			"bak://vol-lz4/backup-7f3a9c21d4e85b60: partition 1: no partition table on the volume"},
	}
	for _, c := range cases {
		err := Run(context.Background(), st, "vol-lz4", c.backup, c.o)
		if err == nil || !strings.HasPrefix(err.Error(), c.msg) || c.sentinel != nil && !errors.Is(err, c.sentinel) {
			t.Errorf("%s: Run = %v; want %q...", c.name, err, c.msg)
		}
	}
}

// rawClient speaks just enough NBD (fixed newstyle, NBD_OPT_GO) to send
// what a well-behaved client would not: a write to a read-only export.
type rawClient struct {
	conn   net.Conn
	flags  uint16
	size   uint64
	mu     sync.Mutex
	handle uint64
}

func dialNBD(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := &rawClient{conn: conn}
	hello := c.readN(t, initialHeaderLen)
	if string(hello[:8]) != "NBDMAGIC" || string(hello[8:16]) != "IHAVEOPT" {
		t.Fatalf("server greeting %q", hello)
	}
	c.send(t, be32bytes(1)) // NBD_FLAG_C_FIXED_NEWSTYLE
	opt := append([]byte("IHAVEOPT"), be32bytes(optGo)...)
	opt = append(opt, be32bytes(6)...)
	opt = append(opt, 0, 0, 0, 0, 0, 0) // name "", no information requests
	c.send(t, opt)
	for {
		h := c.readN(t, replyHeaderLen)
		data := c.readN(t, int(be32(h[16:])))
		if typ := be32(h[12:]); typ == repAck {
			return c
		} else if typ != repInfo {
			t.Fatalf("NBD_OPT_GO reply type %#x", typ)
		}
		if data[0] == 0 && data[1] == infoExport {
			c.size = be64(data[2:])
			c.flags = uint16(data[10])<<8 | uint16(data[11])
		}
	}
}

func (c *rawClient) request(t *testing.T, typ uint16, off uint64, length uint32, payload []byte) (errno uint32) {
	t.Helper()
	c.handle++
	req := []byte{0x25, 0x60, 0x95, 0x13, 0, 0, byte(typ >> 8), byte(typ)}
	req = append(req, be64bytes(c.handle)...)
	req = append(req, be64bytes(off)...)
	req = append(req, be32bytes(length)...)
	c.send(t, append(req, payload...))
	if typ == 2 { // NBD_CMD_DISC has no reply
		return 0
	}
	rep := c.readN(t, 16)
	if be32(rep) != 0x67446698 || be64(rep[8:]) != c.handle {
		t.Fatalf("reply %x", rep)
	}
	return be32(rep[4:])
}

func (c *rawClient) read(t *testing.T, off uint64, n uint32) []byte {
	t.Helper()
	if errno := c.request(t, 0, off, n, nil); errno != 0 {
		t.Fatalf("read at %d: error %d", off, errno)
	}
	return c.readN(t, int(n))
}

func (c *rawClient) write(t *testing.T, off uint64, p []byte) uint32 {
	t.Helper()
	return c.request(t, 1, off, uint32(len(p)), p)
}

func (c *rawClient) disconnect(t *testing.T) { c.request(t, 2, 0, 0, nil) }

func (c *rawClient) send(t *testing.T, p []byte) {
	t.Helper()
	if _, err := c.conn.Write(p); err != nil {
		t.Fatal(err)
	}
}

func (c *rawClient) readN(t *testing.T, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := io.ReadFull(c.conn, p); err != nil {
		t.Fatalf("read %d bytes from the server: %v", n, err)
	}
	return p
}

func be32bytes(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
func be64bytes(v uint64) []byte { return append(be32bytes(uint32(v>>32)), be32bytes(uint32(v))...) }
func be64(b []byte) uint64      { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }
