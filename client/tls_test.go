package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns the paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "siogate test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestReferenceTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	srv := newReference(t, 0)
	srv.argv = append(srv.argv, certFile, keyFile)
	srv.start()
	url := "https://127.0.0.1:" + strconv.Itoa(srv.port)

	// Certificates are verified by default.
	for _, tr := range [][]string{{"polling"}, {"websocket"}} {
		c := New(Options{Transports: tr, Logger: testLogger()})
		shutdown(t, c)
		err := c.Connect(ctxTimeout(t, 10*time.Second), url)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%v with an untrusted certificate: Connect = %v", tr, err)
		}
	}

	// Through TLSConfig: polling over https, then wss.
	c := New(Options{TLSConfig: &tls.Config{RootCAs: pool}, Logger: testLogger()})
	shutdown(t, c)
	if err := c.Connect(ctxTimeout(t, 10*time.Second), url); err != nil {
		t.Fatal(err)
	}
	waitTransport(t, c, "websocket")
	if args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "tls"); err != nil || args.String(0) != "tls" {
		t.Errorf("echo over wss = %v, %v", args, err)
	}

	// Through a caller's *http.Client: its transport's TLS settings serve
	// the WebSocket too.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c2 := New(Options{HTTPClient: hc, Logger: testLogger()})
	shutdown(t, c2)
	if err := c2.Connect(ctxTimeout(t, 10*time.Second), "wss://127.0.0.1:"+strconv.Itoa(srv.port)); err != nil {
		t.Fatal(err)
	}
	waitTransport(t, c2, "websocket")
	if args, err := c2.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "hc"); err != nil || args.String(0) != "hc" {
		t.Errorf("echo = %v, %v", args, err)
	}
}

// TestGatewayPingTimeout freezes the server (SIGSTOP): with no ping within
// pingInterval + pingTimeout (500ms) the client must give up on the
// connection, then reconnect once the server runs again.
func TestGatewayPingTimeout(t *testing.T) {
	for _, m := range transportModes[:2] {
		t.Run(m.name, func(t *testing.T) {
			srv := startGateway(t, 0)
			c := New(Options{Transports: m.transports, ReconnectionDelay: 100 * time.Millisecond, ReconnectionDelayMax: 200 * time.Millisecond, Logger: testLogger()})
			shutdown(t, c)
			connects := make(chan struct{}, 4)
			disconnected := make(chan DisconnectReason, 4)
			c.OnConnect(func() { connects <- struct{}{} })
			c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })
			if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, connects, "connect")
			if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stopped := time.Now()
			r := waitFor(t, disconnected, "disconnect")
			if r != ReasonPingTimeout {
				t.Errorf("reason %q, want %q", r, ReasonPingTimeout)
			}
			if d := time.Since(stopped); d > 2*time.Second {
				t.Errorf("dead server detected after %v", d)
			}
			if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			waitFor(t, connects, "reconnect")
		})
	}
}
