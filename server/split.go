package server

import (
	"errors"
	"net"
	"sync"
	"time"
)

// h2Preface is the HTTP/2 client connection preface. A plaintext
// connection that opens with it speaks HTTP/2 with prior knowledge, which
// on a data port is gRPC (h2c): every REST client speaks HTTP/1.1 in
// plaintext.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// portSplit accepts a plaintext data port's connections and hands each,
// by its first bytes, to one of two listeners: connections that open with
// the HTTP/2 preface go to grpc (served by grpc-go's own transport), all
// others to http (net/http). Reading the first bytes is bounded by
// timeout, so a client that connects and sends nothing is dropped.
type portSplit struct {
	ln      net.Listener
	timeout time.Duration
	http    *connQueue
	grpc    *connQueue
	wg      sync.WaitGroup // the accept loop and connections being classified
}

// newPortSplit starts splitting ln's connections.
func newPortSplit(ln net.Listener, timeout time.Duration) *portSplit {
	p := &portSplit{ln: ln, timeout: timeout, http: newConnQueue(ln.Addr()), grpc: newConnQueue(ln.Addr())}
	p.wg.Add(1)
	go p.accept()
	return p
}

func (p *portSplit) accept() {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				p.http.Close()
				p.grpc.Close()
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		p.wg.Add(1)
		go p.classify(c)
	}
}

// classify reads c's first bytes, as many as it takes to tell whether they
// are the HTTP/2 preface, and queues c (with those bytes put back) on the
// matching listener.
func (p *portSplit) classify(c net.Conn) {
	defer p.wg.Done()
	if p.timeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(p.timeout))
	}
	var buf [len(h2Preface)]byte
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		if m > 0 && string(buf[n:n+m]) != h2Preface[n:n+m] {
			n += m
			break // not the preface
		}
		n += m
		if err != nil {
			c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	q := p.http
	if n == len(h2Preface) && string(buf[:]) == h2Preface {
		q = p.grpc
	}
	q.put(&prefixConn{Conn: c, pre: append([]byte(nil), buf[:n]...)})
}

// Close stops accepting, closes both listeners and waits for connections
// being classified.
func (p *portSplit) Close() error {
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// connQueue is a net.Listener whose connections come from a portSplit.
type connQueue struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) put(c net.Conn) {
	select {
	case q.conns <- c:
	case <-q.done:
		c.Close()
	}
}

// Accept returns the next connection, or net.ErrClosed once closed.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept fail; connections already handed out stay open.
func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

// Addr is the data port's address.
func (q *connQueue) Addr() net.Addr { return q.addr }

// prefixConn is a connection whose first bytes were read to classify it:
// Read returns them first.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// CloseWrite half-closes the connection when it is a TCP one (net/http
// uses it to close a connection gracefully after an error answer).
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
