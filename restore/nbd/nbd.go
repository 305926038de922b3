package nbd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/pojntfx/go-nbd/pkg/server"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/restore/partition"
)

// ErrReadOnly is the error of every write to an export (the client gets EPERM).
var ErrReadOnly = errors.New("the export is read-only")

// Options configure Run.
type Options struct {
	// Listen is the TCP address to serve on, host:port (required; port 0
	// picks a free one, reported to Ready). NBD's usual port is 10809.
	Listen string
	// Partition exports partition N of the volume's GPT or MBR table; 0
	// (default) exports the whole volume.
	Partition int
	// Reader configures the lazy reader (cache size: default 64 MiB).
	Reader restore.ReaderOptions
	// Ready, when set, is called once the export is listening.
	Ready func(Export, net.Addr)
	// Errors, when set, receives what ends a client's connection abnormally
	// (a block that fails verification, a protocol error); the server goes
	// on serving other clients.
	Errors func(error)
}

// Validate reports options Run cannot use.
func (o Options) Validate() error {
	if o.Listen == "" {
		return errors.New("listen address is required: host:port, such as 127.0.0.1:10809")
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w; expected host:port, such as 127.0.0.1:10809", o.Listen, err)
	}
	if o.Partition < 0 {
		return fmt.Errorf("partition %d; expected a partition number (1 or more) or 0 for the whole volume", o.Partition)
	}
	return o.Reader.Validate()
}

// Export is what a client is served.
type Export struct {
	Description string // the backup handle, and the partition when one is exported
	Data        io.ReaderAt
	Size        int64
	Partition   *partition.Partition // nil for the whole volume
}

// Run opens bak://volume/backup lazily, selects the partition, listens and
// serves until ctx ends; then it closes the listener and every client
// connection and returns nil. Problems before serving (backup, partition,
// address) are errors.
func Run(ctx context.Context, st *backupstore.Store, volume, backup string, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	r, err := restore.OpenReader(ctx, st, volume, backup, o.Reader)
	if err != nil {
		return err
	}
	exp := Export{Description: r.Handle(), Data: r, Size: r.Size()}
	if o.Partition > 0 {
		sec, p, err := partition.Open(r, r.Size(), o.Partition)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Handle(), err)
		}
		exp = Export{Description: fmt.Sprintf("%s partition %d", r.Handle(), p.Number), Data: sec, Size: p.Size, Partition: &p}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	if o.Ready != nil {
		o.Ready(exp, ln.Addr())
	}
	return Serve(ctx, ln, exp, o.Errors)
}

// Serve serves exp read-only (the default export, name "") to every client
// of ln until ctx ends, then closes ln and the connections and returns nil;
// an Accept failure is returned. Serve owns ln.
func Serve(ctx context.Context, ln net.Listener, exp Export, errs func(error)) error {
	if errs == nil {
		errs = func(error) {}
	}
	exports := []*server.Export{{Name: "", Description: exp.Description, Backend: &backend{data: exp.Data, size: exp.Size}}}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer stop()
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			ln.Close()
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			return nil
		}
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			err := server.Handle(&readOnlyConn{Conn: c}, exports, &server.Options{ReadOnly: true, SupportsMultiConn: true})
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			if err != nil && ctx.Err() == nil && !clientGone(err) {
				errs(fmt.Errorf("client %s: %w", c.RemoteAddr(), err))
			}
		})
	}
}

// clientGone reports the errors of a client that closed its connection
// without NBD_CMD_DISC.
func clientGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// backend is go-nbd's view of an export: reads from the lazy reader, no
// writes.
type backend struct {
	data io.ReaderAt
	size int64
}

func (b *backend) ReadAt(p []byte, off int64) (int, error) {
	n, err := b.data.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil // a read that ends at the end of the export
	}
	return n, err
}

func (b *backend) WriteAt([]byte, int64) (int, error) { return 0, ErrReadOnly }
func (b *backend) Size() (int64, error)               { return b.size, nil }
func (b *backend) Sync() error                        { return nil }
