// smuxpeer: the real xtaci/smux (Debian's golang-github-xtaci-smux-dev, v1.5.16, what AWS runs) as a test peer.
//
//	server: accepts TCP connections, runs smux.Server on each, echoes every stream back and closes it.
//	client: opens -n streams on one connection, writes -size random bytes on each while reading the echo,
//	        compares, closes; exits 0 only when every stream matched. Prints a JSON summary.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/xtaci/smux"
)

func config(keepalive bool) *smux.Config {
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = !keepalive
	if err := smux.VerifyConfig(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(2)
	}
	return cfg
}

func serve(addr string, keepalive bool) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	fmt.Printf("LISTENING %d\n", listener.Addr().(*net.TCPAddr).Port)
	for {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		go func() {
			session, err := smux.Server(conn, config(keepalive))
			if err != nil {
				conn.Close()
				return
			}
			defer session.Close()
			for {
				stream, err := session.AcceptStream()
				if err != nil {
					return
				}
				go func() {
					io.Copy(stream, stream)
					stream.Close()
				}()
			}
		}()
	}
}

type summary struct {
	Streams   int     `json:"streams"`
	Bytes     int64   `json:"bytes"`
	ElapsedMs float64 `json:"elapsedMs"`
	Failures  int     `json:"failures"`
	Error     string  `json:"error,omitempty"`
}

func client(addr string, n int, size int, keepalive bool, timeout time.Duration, idle time.Duration) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	session, err := smux.Client(conn, config(keepalive))
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	if idle > 0 {
		// stay silent (apart from our own keepalive) to test the peer's keepalive handling
		time.Sleep(idle)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	firstError := ""
	fail := func(err string) {
		mu.Lock()
		failures++
		if firstError == "" {
			firstError = err
		}
		mu.Unlock()
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream, err := session.OpenStream()
			if err != nil {
				fail("open: " + err.Error())
				return
			}
			defer stream.Close()
			data := make([]byte, size)
			rand.Read(data)
			echoed := make([]byte, size)
			readDone := make(chan error, 1)
			go func() {
				_, err := io.ReadFull(stream, echoed)
				readDone <- err
			}()
			if _, err := stream.Write(data); err != nil {
				fail("write: " + err.Error())
				return
			}
			if err := <-readDone; err != nil {
				fail("read: " + err.Error())
				return
			}
			if !bytes.Equal(data, echoed) {
				fail("echo differs")
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	session.Close()
	out, _ := json.Marshal(summary{Streams: n, Bytes: int64(n) * int64(size), ElapsedMs: float64(elapsed.Microseconds()) / 1000, Failures: failures, Error: firstError})
	fmt.Println(string(out))
	if failures > 0 {
		os.Exit(1)
	}
}

func main() {
	mode := flag.String("mode", "server", "server or client")
	addr := flag.String("addr", "127.0.0.1:0", "listen (server) or dial (client) address")
	n := flag.Int("n", 1, "client: streams")
	size := flag.Int("size", 1024, "client: bytes per stream")
	keepalive := flag.Bool("keepalive", false, "enable smux keepalive (10 s NOP, 30 s timeout)")
	timeout := flag.Duration("timeout", 120*time.Second, "client: overall deadline")
	idle := flag.Duration("idle", 0, "client: stay idle this long before opening streams")
	flag.Parse()
	if *mode == "server" {
		serve(*addr, *keepalive)
	} else {
		client(*addr, *n, *size, *keepalive, *timeout, *idle)
	}
}
