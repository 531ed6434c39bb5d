package connauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siogate/siogate/gateway"
)

// JWTConfig configures JWT verification. At least one key source is
// needed: Secret, PublicKeysPEM or JWKSURL. Zero fields take the defaults
// given with them.
type JWTConfig struct {
	// Secret verifies HS256, HS384 and HS512 tokens.
	Secret []byte
	// PublicKeysPEM holds public keys (PKIX, PKCS#1 or certificates) that
	// verify RS*, PS*, ES* and EdDSA tokens, each by any key of its type.
	PublicKeysPEM []byte
	// JWKSURL is fetched at NewJWT and then every JWKSRefresh (default 5
	// minutes), and when a token names a key id the set lacks, at most
	// once per 10 seconds; a failed refresh keeps the last keys.
	JWKSURL     string
	JWKSRefresh time.Duration
	// HTTPClient fetches the JWKS (default: a client with a 10s timeout).
	HTTPClient *http.Client

	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer   string
	Audience string
	// Leeway absorbs clock skew in the exp, nbf and iat checks (default
	// 10s). Tokens without exp are refused.
	Leeway time.Duration

	// AuthField names the CONNECT payload field carrying the token
	// (default "token": the client's `auth: {token}`).
	AuthField string
	// Header names a handshake header carrying the token, with or without
	// a "Bearer " prefix (default "Authorization"; "-" for none).
	Header string
	// QueryParam names a handshake query parameter carrying the token
	// (default none: URLs end up in access logs).
	QueryParam string

	// RoomsClaim names the claim listing the rooms to join, a string or
	// a list of strings (default "rooms").
	RoomsClaim string
	// DataClaims lists the claims copied into the socket data. Nil copies
	// every claim but the registered ones (iss, sub, aud, exp, nbf, iat,
	// jti) and the rooms claim.
	DataClaims []string

	// Logger receives JWKS refresh failures (nil discards them).
	Logger *slog.Logger
}

func (c JWTConfig) withDefaults() JWTConfig {
	if c.JWKSRefresh <= 0 {
		c.JWKSRefresh = 5 * time.Minute
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Leeway <= 0 {
		c.Leeway = 10 * time.Second
	}
	if c.AuthField == "" {
		c.AuthField = "token"
	}
	if c.Header == "" {
		c.Header = "Authorization"
	}
	if c.RoomsClaim == "" {
		c.RoomsClaim = "rooms"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// JWT verifies JSON Web Tokens and maps their claims to an Identity. Its
// methods are safe for concurrent use.
type JWT struct {
	cfg    JWTConfig
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	parser *jwt.Parser
	static []publicKey
	remote *remoteKeys // nil without JWKSURL
}

// jwksMinGap bounds the on-demand JWKS refreshes an unknown key id causes.
const jwksMinGap = 10 * time.Second

// NewJWT checks the configuration and, with a JWKS URL, fetches the key
// set once (within ctx). Close stops the refreshes.
func NewJWT(ctx context.Context, cfg JWTConfig) (*JWT, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Secret) == 0 && len(cfg.PublicKeysPEM) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("connauth: JWT needs a key source: a secret, PEM public keys or a JWKS URL")
	}
	j := &JWT{cfg: cfg}
	var methods []string
	if len(cfg.Secret) > 0 {
		methods = append(methods, "HS256", "HS384", "HS512")
	}
	if len(cfg.PublicKeysPEM) > 0 {
		keys, err := parsePEMKeys(cfg.PublicKeysPEM)
		if err != nil {
			return nil, fmt.Errorf("connauth: JWT public keys: %w", err)
		}
		j.static = keys
	}
	if len(cfg.PublicKeysPEM) > 0 || cfg.JWKSURL != "" {
		methods = append(methods, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
	}
	if cfg.JWKSURL != "" {
		r, err := newRemoteKeys(ctx, cfg.JWKSURL, cfg.HTTPClient, cfg.JWKSRefresh, jwksMinGap, cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("connauth: %w (check the JWKS URL and that this node reaches it)", err)
		}
		j.remote = r
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	j.parser = jwt.NewParser(opts...)
	j.ctx, j.cancel = context.WithCancel(context.Background())
	return j, nil
}

// Close stops the JWKS refreshes and the verifications waiting for one.
func (j *JWT) Close() {
	j.cancel()
	if j.remote != nil {
		j.remote.stop()
	}
}

// jwtConnectTimeout bounds a verification that waits for a JWKS refresh.
const jwtConnectTimeout = 5 * time.Second

// Middleware returns a connect middleware that accepts a client with a
// valid token, setting its data and rooms, and refuses any other with a
// message starting "unauthorized:" and data {"code": ...}.
func (j *JWT) Middleware() gateway.Middleware {
	return func(s *gateway.Socket) error {
		token := j.token(s)
		if token == "" {
			return refusal("no_token", "unauthorized: no token")
		}
		ctx, cancel := context.WithTimeout(j.ctx, jwtConnectTimeout)
		defer cancel()
		id, err := j.Verify(ctx, token)
		if err != nil {
			return err
		}
		return id.apply(s)
	}
}

// token finds the client's token: the CONNECT payload field, then the
// header, then the query parameter.
func (j *JWT) token(s *gateway.Socket) string {
	if auth := s.Auth(); len(auth) > 0 && auth[0] == '{' {
		var fields map[string]json.RawMessage
		if json.Unmarshal(auth, &fields) == nil {
			var t string
			if json.Unmarshal(fields[j.cfg.AuthField], &t) == nil && t != "" {
				return t
			}
		}
	}
	r := s.Request()
	if r == nil {
		return ""
	}
	if j.cfg.Header != "-" {
		if h := strings.TrimSpace(r.Header.Get(j.cfg.Header)); h != "" {
			if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
				h = strings.TrimSpace(h[7:])
			}
			return h
		}
	}
	if j.cfg.QueryParam != "" && r.URL != nil {
		return r.URL.Query().Get(j.cfg.QueryParam)
	}
	return ""
}

// Verify checks a token's signature and time claims (and issuer and
// audience when configured) and maps its claims. Its error is a
// *gateway.ConnectError telling the client why, without the details an
// attacker could use.
func (j *JWT) Verify(ctx context.Context, token string) (Identity, error) {
	claims := jwt.MapClaims{}
	_, err := j.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) { return j.key(ctx, t) })
	if err != nil {
		return Identity{}, jwtRefusal(err)
	}
	return j.identity(claims)
}

// key picks the keys that may verify t: the secret for HS*, else the
// public keys of the algorithm's type (the one named by kid, if any).
func (j *JWT) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if strings.HasPrefix(alg, "HS") {
		if len(j.cfg.Secret) == 0 {
			return nil, errUnknownKey
		}
		return j.cfg.Secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	pick := func(keys []publicKey, set *jwt.VerificationKeySet) {
		for _, k := range keys {
			if k.fits(alg) && (kid == "" || k.kid == "" || k.kid == kid) {
				set.Keys = append(set.Keys, k.key)
			}
		}
	}
	var set jwt.VerificationKeySet
	pick(j.static, &set)
	if j.remote != nil {
		remote := j.remote.current()
		if kid != "" && !hasKid(remote, kid) {
			// A key we do not hold yet: the issuer may have rotated.
			remote = j.remote.refresh(ctx)
		}
		pick(remote, &set)
	}
	if len(set.Keys) == 0 {
		return nil, errUnknownKey
	}
	return set, nil
}

func hasKid(keys []publicKey, kid string) bool {
	for _, k := range keys {
		if k.kid == kid {
			return true
		}
	}
	return false
}

var errUnknownKey = errors.New("no key for this token")

// jwtRefusal turns a verification error into what the client is told.
func jwtRefusal(err error) *gateway.ConnectError {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return refusal("token_expired", "unauthorized: token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refusal("token_not_valid_yet", "unauthorized: token not valid yet")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refusal("invalid_token", "unauthorized: token has no expiry")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refusal("invalid_token", "unauthorized: token not issued for this service")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, errUnknownKey):
		return refusal("invalid_signature", "unauthorized: invalid token signature")
	}
	return refusal("invalid_token", "unauthorized: invalid token")
}

// registered reports whether name is a claim RFC 7519 defines: those are
// not copied to the socket data by default.
func registered(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti":
		return true
	}
	return false
}

// identity maps verified claims: sub to the user id, the rooms claim to
// rooms, the data claims to data.
func (j *JWT) identity(claims jwt.MapClaims) (Identity, error) {
	var id Identity
	if sub, ok := claims["sub"]; ok {
		s, isString := sub.(string)
		if !isString {
			return Identity{}, refusal("invalid_token", "unauthorized: the sub claim is not a string")
		}
		id.UserID = s
	}
	switch rooms := claims[j.cfg.RoomsClaim].(type) {
	case nil:
	case string:
		id.Rooms = []string{rooms}
	case []any:
		for _, r := range rooms {
			s, ok := r.(string)
			if !ok {
				return Identity{}, refusal("invalid_token", "unauthorized: the %s claim is not a list of strings", j.cfg.RoomsClaim)
			}
			id.Rooms = append(id.Rooms, s)
		}
	default:
		return Identity{}, refusal("invalid_token", "unauthorized: the %s claim is not a list of strings", j.cfg.RoomsClaim)
	}
	id.Data = map[string]any{}
	if j.cfg.DataClaims != nil {
		for _, name := range j.cfg.DataClaims {
			if v, ok := claims[name]; ok {
				id.Data[name] = v
			}
		}
		return id, nil
	}
	for name, v := range claims {
		if !registered(name) && name != j.cfg.RoomsClaim {
			id.Data[name] = v
		}
	}
	return id, nil
}
