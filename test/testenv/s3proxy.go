package testenv

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Proxy starts an HTTP forward proxy for t that connects every host to the server
// as Dial does, and returns its URL: set it as HTTP_PROXY and HTTPS_PROXY of a
// snaprestore process with VIRTUAL_HOSTED_STYLE=true, whose requests then reach
// <bucket>.localhost unchanged (Host header and SigV4 signature included). Go's
// clients never proxy "localhost" itself, so path-style requests go direct.
func (s *S3) Proxy(t testing.TB) string {
	t.Helper()
	tr := s.Transport()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			s.tunnel(w, r)
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Connection")
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(tr.CloseIdleConnections)
	return srv.URL
}

// tunnel answers CONNECT (HTTPS through the proxy) with a byte pipe to the server.
func (s *S3) tunnel(w http.ResponseWriter, r *http.Request) {
	dst, err := s.Dial(r.Context(), "tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		dst.Close()
		http.Error(w, "proxy: connection cannot be hijacked", http.StatusInternalServerError)
		return
	}
	src, _, err := hj.Hijack()
	if err != nil {
		dst.Close()
		return
	}
	if _, err := io.WriteString(src, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		src.Close()
		dst.Close()
		return
	}
	go pipe(dst, src)
	go pipe(src, dst)
}

func pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}
