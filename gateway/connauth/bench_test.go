package connauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify is the CPU one connect's token check costs, per
// algorithm (signature and claims mapping; no network).
func BenchmarkVerify(b *testing.B) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pems := append(pemOf(b, &rsaKey.PublicKey), pemOf(b, &ecKey.PublicKey)...)
	extra := map[string]any{"rooms": []string{"a", "b"}, "name": "Alice"}
	for _, c := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", jwt.SigningMethodHS256, testSecret},
		{"RS256", jwt.SigningMethodRS256, rsaKey},
		{"ES256", jwt.SigningMethodES256, ecKey},
	} {
		b.Run(c.name, func(b *testing.B) {
			j, err := NewJWT(b.Context(), JWTConfig{Secret: testSecret, PublicKeysPEM: pems})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			tok, err := jwt.NewWithClaims(c.method, claims("alice", extra)).SignedString(c.key)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Verify(b.Context(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
