package connauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// publicKey is one verification key: its id (kid, "" when none), the
// algorithm it is restricted to ("" for any its type allows) and the key.
type publicKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// fits reports whether k can verify a token signed with alg.
func (k publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// parsePEMKeys reads every public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
// PUBLIC KEY" or a certificate) in PEM data.
func parsePEMKeys(data []byte) ([]publicKey, error) {
	var out []publicKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var key crypto.PublicKey
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				key = c.PublicKey
			}
		default:
			return nil, fmt.Errorf("PEM block %q is not a public key (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %q: %w", b.Type, err)
		}
		switch key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("PEM block %q holds a %T key: want RSA, ECDSA or Ed25519", b.Type, key)
		}
		out = append(out, publicKey{key: key})
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return out, nil
}

// jwk is the part of a JSON Web Key (RFC 7517) that verification needs.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a JWK Set. Keys for encryption, of unknown types or
// malformed are skipped (a set may hold keys for other uses); an error
// means the document itself is unusable.
func parseJWKS(data []byte) ([]publicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	var out []publicKey
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key, err := k.publicKey()
		if err != nil {
			continue
		}
		out = append(out, publicKey{kid: k.Kid, alg: k.Alg, key: key})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the JWK Set has no usable signature key (of %d keys)", len(set.Keys))
	}
	return out, nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	b64 := base64.RawURLEncoding
	switch k.Kty {
	case "RSA":
		n, err := b64.DecodeString(k.N)
		if err != nil || len(n) == 0 {
			return nil, errors.New("bad RSA modulus")
		}
		e, err := b64.DecodeString(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA exponent")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, errors.New("unknown curve")
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC point")
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(curve, point)
	case "OKP":
		x, err := b64.DecodeString(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad OKP key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, errors.New("unknown key type")
}

// maxJWKSSize bounds a JWKS document.
const maxJWKSSize = 1 << 20

// remoteKeys is a JWK Set fetched from a URL, refreshed every interval and
// on demand when a token names a key it does not hold (keys rotate), at
// most once per minGap. On a failed refresh the last good keys stay.
type remoteKeys struct {
	url     string
	client  *http.Client
	every   time.Duration
	minGap  time.Duration
	log     *slog.Logger
	kick    chan struct{}
	ctx     context.Context // ends at stop
	cancel  context.CancelFunc
	stopped chan struct{}

	mu      sync.Mutex
	keys    []publicKey
	fetched time.Time     // last fetch attempt
	round   chan struct{} // closed when the next fetch attempt ends
}

// newRemoteKeys fetches the set once (failing when it cannot) and starts
// the refresher, stopped by stop.
func newRemoteKeys(ctx context.Context, url string, client *http.Client, every, minGap time.Duration, log *slog.Logger) (*remoteKeys, error) {
	r := &remoteKeys{
		url: url, client: client, every: every, minGap: minGap, log: log,
		kick: make(chan struct{}, 1), stopped: make(chan struct{}), round: make(chan struct{}),
	}
	keys, err := r.fetch(ctx)
	if err != nil {
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.keys = keys // fetched stays zero: the first on-demand refresh may come at once
	go r.loop()
	return r, nil
}

func (r *remoteKeys) fetch(ctx context.Context) ([]publicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS URL %q: %w", r.url, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the JWKS from %s: HTTP %d", r.url, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the JWKS from %s: %w", r.url, err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("the JWKS at %s is larger than %d bytes", r.url, maxJWKSSize)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("the JWKS at %s: %w", r.url, err)
	}
	return keys, nil
}

func (r *remoteKeys) loop() {
	defer close(r.stopped)
	ctx := r.ctx
	t := time.NewTimer(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
			r.mu.Lock()
			wait := r.minGap - time.Since(r.fetched)
			r.mu.Unlock()
			if wait > 0 {
				// Too soon: the waiters look again at what is there.
				r.endRound(nil, nil)
				continue
			}
		}
		keys, err := r.fetch(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("connauth: JWKS refresh failed; keeping the last keys", "url", r.url, "err", err)
		}
		r.endRound(keys, err)
		t.Reset(r.every)
	}
}

// endRound installs keys (unless err) and wakes the waiters of the round.
func (r *remoteKeys) endRound(keys []publicKey, err error) {
	r.mu.Lock()
	if keys != nil && err == nil {
		r.keys = keys
		r.fetched = time.Now()
	} else if err != nil {
		r.fetched = time.Now()
	}
	close(r.round)
	r.round = make(chan struct{})
	r.mu.Unlock()
}

// current returns the keys held now.
func (r *remoteKeys) current() []publicKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys
}

// refresh asks for a fetch and waits for it to end (or ctx); it returns
// the keys held then.
func (r *remoteKeys) refresh(ctx context.Context) []publicKey {
	r.mu.Lock()
	round := r.round
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default: // a fetch is already asked for
	}
	select {
	case <-round:
	case <-ctx.Done():
	case <-r.ctx.Done():
	}
	return r.current()
}

func (r *remoteKeys) stop() {
	r.cancel()
	<-r.stopped
}
