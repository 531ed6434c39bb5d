package connauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siogate/siogate/gateway"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// claims returns valid claims for user u: issued now, expiring in an hour.
func claims(u string, extra map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": u, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newJWT(t *testing.T, cfg JWTConfig) *JWT {
	t.Helper()
	j, err := NewJWT(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	return j
}

// code returns the refusal code of err ("" when err is not a refusal).
func code(err error) string {
	var ce *gateway.ConnectError
	if !errors.As(err, &ce) {
		return ""
	}
	m, _ := ce.Data.(map[string]any)
	s, _ := m["code"].(string)
	return s
}

func TestJWTClaimsMapping(t *testing.T) {
	j := newJWT(t, JWTConfig{Secret: testSecret})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, "", claims("alice", map[string]any{
		"rooms": []string{"team-1", "team-2"}, "name": "Alice", "plan": "pro", "iss": "me", "jti": "x",
	}))
	id, err := j.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != "alice" || !slices.Equal(id.Rooms, []string{"team-1", "team-2"}) {
		t.Errorf("identity %+v", id)
	}
	if len(id.Data) != 2 || id.Data["name"] != "Alice" || id.Data["plan"] != "pro" {
		t.Errorf("data %v: want the custom claims only (no registered claim, no rooms)", id.Data)
	}

	// A chosen list of data claims, a renamed rooms claim holding one room.
	j = newJWT(t, JWTConfig{Secret: testSecret, RoomsClaim: "groups", DataClaims: []string{"name", "iss"}})
	id, err = j.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, testSecret, "", claims("bob", map[string]any{
		"groups": "ops", "name": "Bob", "plan": "free", "iss": "me",
	})))
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != "bob" || !slices.Equal(id.Rooms, []string{"ops"}) || len(id.Data) != 2 || id.Data["iss"] != "me" || id.Data["name"] != "Bob" {
		t.Errorf("identity %+v", id)
	}

	// Malformed rooms or sub claims refuse the token.
	for _, extra := range []map[string]any{
		{"groups": []any{"a", 1}}, {"groups": 7}, {"sub": 42},
	} {
		_, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, testSecret, "", claims("x", extra)))
		if code(err) != "invalid_token" {
			t.Errorf("claims %v: err %v, want invalid_token", extra, err)
		}
	}
}

func TestJWTTimeClaimsAndLeeway(t *testing.T) {
	j := newJWT(t, JWTConfig{Secret: testSecret, Leeway: 30 * time.Second})
	now := time.Now()
	cases := []struct {
		name string
		c    jwt.MapClaims
		want string // refusal code, "" for accepted
	}{
		{"valid", claims("u", nil), ""},
		{"expired within leeway", jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()}, ""},
		{"expired", jwt.MapClaims{"exp": now.Add(-2 * time.Minute).Unix()}, "token_expired"},
		{"nbf within leeway", jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(10 * time.Second).Unix()}, ""},
		{"nbf in the future", jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Minute).Unix()}, "token_not_valid_yet"},
		{"iat in the future", jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "iat": now.Add(time.Minute).Unix()}, "token_not_valid_yet"},
		{"no exp", jwt.MapClaims{"sub": "u"}, "invalid_token"},
	}
	for _, c := range cases {
		_, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, testSecret, "", c.c))
		if code(err) != c.want || (c.want == "") != (err == nil) {
			t.Errorf("%s: err %v, want code %q", c.name, err, c.want)
		}
	}
}

func TestJWTForgedAndConfusedTokens(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubPEM := pemOf(t, &rsaKey.PublicKey)
	j := newJWT(t, JWTConfig{Secret: testSecret, Issuer: "auth.example", Audience: "chat"})
	good := claims("u", map[string]any{"iss": "auth.example", "aud": "chat"})
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, testSecret, "", good)); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	forged := sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), "", good)
	if _, err := j.Verify(t.Context(), forged); code(err) != "invalid_signature" {
		t.Errorf("forged signature: %v", err)
	}
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, testSecret, "", claims("u", map[string]any{"iss": "evil", "aud": "chat"}))); code(err) != "invalid_token" {
		t.Errorf("wrong issuer: %v", err)
	}
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, testSecret, "", claims("u", map[string]any{"iss": "auth.example", "aud": "other"}))); code(err) != "invalid_token" {
		t.Errorf("wrong audience: %v", err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := j.Verify(t.Context(), none); err == nil {
		t.Error(`alg "none" accepted`)
	}
	if _, err := j.Verify(t.Context(), "not.a.jwt"); code(err) != "invalid_token" {
		t.Errorf("garbage: %v", err)
	}
	// An RS256 token where only a secret is configured, and the classic
	// confusion: HS256 keyed with the PEM public key where only public
	// keys are configured.
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, rsaKey, "", good)); err == nil {
		t.Error("RS256 token accepted without public keys")
	}
	pk := newJWT(t, JWTConfig{PublicKeysPEM: pubPEM})
	if _, err := pk.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, pubPEM, "", good)); err == nil {
		t.Error("HS256 token keyed with the public key accepted")
	}
	if _, err := pk.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, rsaKey, "", good)); err != nil {
		t.Errorf("RS256 with the PEM key: %v", err)
	}
}

func TestJWTPEMKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := func() []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	bundle := slices.Concat(pemOf(t, &ecKey.PublicKey), pemOf(t, edPub), cert())
	j := newJWT(t, JWTConfig{PublicKeysPEM: bundle})
	for name, tok := range map[string]string{
		"ES256": sign(t, jwt.SigningMethodES256, ecKey, "", claims("u", nil)),
		"EdDSA": sign(t, jwt.SigningMethodEdDSA, edKey, "", claims("u", nil)),
		"RS256": sign(t, jwt.SigningMethodRS256, rsaKey, "", claims("u", nil)),
	} {
		if _, err := j.Verify(t.Context(), tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodES256, otherEC, "", claims("u", nil))); code(err) != "invalid_signature" {
		t.Errorf("ES256 by an unknown key: %v", err)
	}
	for _, bad := range []string{"", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := NewJWT(t.Context(), JWTConfig{PublicKeysPEM: []byte(bad + "x")}); err == nil {
			t.Errorf("PEM %q accepted", bad)
		}
	}
	if _, err := NewJWT(t.Context(), JWTConfig{}); err == nil {
		t.Error("no key source accepted")
	}
}

// jwksServer serves a JWK Set that the test can replace.
type jwksServer struct {
	*httptest.Server
	mu    sync.Mutex
	keys  []map[string]string
	hits  atomic.Int32
	fails atomic.Bool
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.fails.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...map[string]string) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	b, _ := k.Bytes() // 0x04 || X || Y
	n := (len(b) - 1) / 2
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(b[1 : 1+n]), "y": b64(b[1+n:])}
}

func TestJWTJWKSRotation(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t)
	srv.set(rsaJWK("k1", &k1.PublicKey), ecJWK("e1", &ec.PublicKey), map[string]string{"kty": "RSA", "kid": "enc", "use": "enc"})
	j := newJWT(t, JWTConfig{JWKSURL: srv.URL, JWKSRefresh: time.Hour})
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, k1, "k1", claims("u", nil))); err != nil {
		t.Fatalf("RS256 by k1: %v", err)
	}
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodES256, ec, "e1", claims("u", nil))); err != nil {
		t.Fatalf("ES256 by e1: %v", err)
	}
	// A token signed by k1 but naming e1's kid, and one by k2 naming k1.
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, k2, "k1", claims("u", nil))); code(err) != "invalid_signature" {
		t.Errorf("k2 posing as k1: %v", err)
	}
	// The issuer rotates to k2: the first token naming it makes the set
	// be fetched again.
	srv.set(rsaJWK("k2", &k2.PublicKey))
	before := srv.hits.Load()
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, k2, "k2", claims("u", nil))); err != nil {
		t.Fatalf("RS256 by the rotated-in k2: %v", err)
	}
	if srv.hits.Load() != before+1 {
		t.Errorf("JWKS fetched %d times for the new kid, want 1", srv.hits.Load()-before)
	}
	// Unknown kids do not make it fetch again within the minimum gap.
	before = srv.hits.Load()
	for range 5 {
		if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, k2, "nope", claims("u", nil))); code(err) != "invalid_signature" {
			t.Errorf("unknown kid: %v", err)
		}
	}
	if n := srv.hits.Load() - before; n != 0 {
		t.Errorf("unknown kids fetched the JWKS %d times within %v", n, jwksMinGap)
	}
}

func TestJWTJWKSPeriodicRefreshKeepsKeysOnFailure(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := newJWKSServer(t)
	srv.set(rsaJWK("k1", &k1.PublicKey))
	j := newJWT(t, JWTConfig{JWKSURL: srv.URL, JWKSRefresh: 50 * time.Millisecond})
	// The server fails for a few refreshes: k1 keeps working.
	srv.fails.Store(true)
	waitFor(t, func() bool { return srv.hits.Load() >= 4 })
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, k1, "k1", claims("u", nil))); err != nil {
		t.Fatalf("k1 lost after failed refreshes: %v", err)
	}
	// Back, with k2 only (k2 tokens carry no kid: only the periodic
	// refresh can bring it).
	srv.set(rsaJWK("k2", &k2.PublicKey))
	srv.fails.Store(false)
	tok := sign(t, jwt.SigningMethodRS256, k2, "", claims("u", nil))
	waitFor(t, func() bool { _, err := j.Verify(t.Context(), tok); return err == nil })
	if _, err := j.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, k1, "", claims("u", nil))); err == nil {
		t.Error("k1 still accepted after the set dropped it")
	}
	srv.fails.Store(true)
	if _, err := NewJWT(t.Context(), JWTConfig{JWKSURL: srv.URL}); err == nil {
		t.Error("an unreachable JWKS accepted at start")
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := ecJWK("e", &ec.PublicKey)
	offCurve := ecJWK("bad", &ec.PublicKey)
	offCurve["y"] = offCurve["x"]
	doc, _ := json.Marshal(map[string]any{"keys": []any{
		good, offCurve,
		map[string]string{"kty": "RSA", "n": "", "e": "AQAB"},
		map[string]string{"kty": "oct", "k": "c2VjcmV0"}, // secrets never come from a JWKS
		map[string]string{"kty": "EC", "crv": "P-999"},
	}})
	keys, err := parseJWKS(doc)
	if err != nil || len(keys) != 1 || keys[0].kid != "e" {
		t.Fatalf("keys %v, err %v: want only the valid EC key", keys, err)
	}
	for _, bad := range []string{`{}`, `{"keys":[]}`, `[]`, `{"keys":[{"kty":"oct"}]}`} {
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzParseJWKS(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	doc, _ := json.Marshal(map[string]any{"keys": []any{ecJWK("e", &ec.PublicKey), rsaJWK("r", &k.PublicKey)}})
	f.Add(doc)
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no key")
		}
		for _, k := range keys {
			if k.key == nil {
				t.Fatal("nil key")
			}
		}
	})
}

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
