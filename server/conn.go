package server

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// httpServer is the API's server with every connection bounded in time:
// a request must arrive within ReadHeaderTimeout, be read and answered
// within request-timeout (transfers extend their own deadlines, see
// transfer), and a keep-alive connection without a next request closes
// after idle-timeout. Without them an unauthenticated client could hold
// connections, and so file descriptors, for ever.
func (s *Server) httpServer() *http.Server {
	req := s.set.RequestTimeout.Std()
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(10*time.Second, req),
		ReadTimeout:       req,
		WriteTimeout:      req,
		IdleTimeout:       s.set.IdleTimeout.Std(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// transfer gives an upload, an install or a download transfer-timeout
// to read its request and write its answer instead of request-timeout.
func (s *Server) transfer(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s.extendToTransfer(w, r)
		return h(w, r)
	}
}

// extendToTransfer gives the request transfer-timeout from now, for a
// handler that learns only from the body's type that it is an upload.
func (s *Server) extendToTransfer(w http.ResponseWriter, r *http.Request) {
	deadline := time.Now().Add(s.set.TransferTimeout.Std())
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(deadline); err != nil {
		s.log.Warn("extending a transfer's read deadline", "path", r.URL.Path, "err", err)
	}
	if err := rc.SetWriteDeadline(deadline); err != nil {
		s.log.Warn("extending a transfer's write deadline", "path", r.URL.Path, "err", err)
	}
}

// limitListener accepts at most max connections at once: Accept waits
// until one of them is closed (the timeouts above see that they are).
func limitListener(ln net.Listener, max int) net.Listener {
	return &limitedListener{Listener: ln, slots: make(chan struct{}, max), closed: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
