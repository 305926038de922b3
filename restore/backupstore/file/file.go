package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Store serves objects from a directory; keys are slash-separated paths
// below it.
type Store struct {
	root string
}

// New returns a store rooted at dir (it must exist).
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("backupstore directory %q: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("backupstore directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("backupstore directory %q is not a directory", abs)
	}
	return &Store{root: abs}, nil
}

// ParseURL returns the directory of a file:// or vfs:// URL
// (file:///srv/backups → /srv/backups).
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("backupstore URL %q: %w", raw, err)
	}
	if u.Scheme != "file" && u.Scheme != "vfs" {
		return "", fmt.Errorf("backupstore URL %q: scheme %q; expected file:///path or vfs:///path", raw, u.Scheme)
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("backupstore URL %q: host %q; expected file:///absolute/path", raw, u.Host)
	}
	if !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("backupstore URL %q: path %q; expected an absolute path (file:///path)", raw, u.Path)
	}
	return u.Path, nil
}

// path maps a key to a file path, refusing keys that leave the root.
func (s *Store) path(key string) (string, error) {
	if !fs.ValidPath(key) {
		return "", fmt.Errorf("object key %q: %w", key, fs.ErrInvalid)
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Open opens an object; missing objects wrap fs.ErrNotExist.
func (s *Store) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return f, nil
}

// List lists a directory's entries; a missing directory is empty.
func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	m, err := s.ListModified(ctx, dir)
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, err
}

// ListModified is List with each file's modification time (zero for a
// subdirectory). Hidden names (a leading dot: temporary files of Put) are left out.
func (s *Store) ListModified(_ context.Context, dir string) (map[string]time.Time, error) {
	p, err := s.path(dir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	out := make(map[string]time.Time, len(ents))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		var mod time.Time
		if !e.IsDir() {
			if info, err := e.Info(); err == nil {
				mod = info.ModTime()
			}
		}
		out[e.Name()] = mod
	}
	return out, nil
}

// Exists reports whether an object exists.
func (s *Store) Exists(_ context.Context, key string) (bool, error) {
	p, err := s.path(key)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Put writes an object atomically: a temporary file in the same directory,
// fsync, rename.
func (s *Store) Put(_ context.Context, key string, data []byte) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
