package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that sends its request slower than the timeouts allow is cut off.
func TestSlowClientsAreDisconnected(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			w.WriteHeader(http.StatusRequestTimeout) // the read deadline cut the body off
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := newHTTPServer(ok, timeouts{readHeader: 200 * time.Millisecond, read: 400 * time.Millisecond, write: time.Second, idle: time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	for _, tt := range []struct {
		name string
		send func(c net.Conn)
	}{
		{"headers never finish", func(c net.Conn) {
			io.WriteString(c, "POST /v1/banks HTTP/1.1\r\nHost: x\r\n")
		}},
		{"body trickles", func(c net.Conn) {
			io.WriteString(c, "POST /v1/banks HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
			for range 20 {
				if _, err := io.WriteString(c, "x"); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			tt.send(c)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(c) // returns when the server closes the connection
			if err != nil {
				t.Fatalf("the server kept the connection open: %v", err)
			}
			if strings.Contains(string(b), "204") {
				t.Fatalf("the slow request was served: %q", b)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("the connection was held %s", took)
			}
		})
	}
}
