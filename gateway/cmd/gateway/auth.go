package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/connauth"
)

// authOptions are the connect-authentication flags (--auth ...).
type authOptions struct {
	mode string

	tokenField  string
	tokenHeader string
	tokenQuery  string

	jwtSecret     string
	jwtSecretFile string
	jwtKeysFile   string
	jwksURL       string
	jwksRefresh   time.Duration
	issuer        string
	audience      string
	leeway        time.Duration
	roomsClaim    string
	dataClaims    string

	hookURL         string
	hookTimeout     time.Duration
	hookMaxInFlight int
	hookHeaders     string
	hookFailures    int
	hookCoolDown    time.Duration
	hookFailOpen    bool
}

// addAuthFlags declares the --auth flags, bound to o.
func addAuthFlags(fs *flag.FlagSet, o *authOptions) {
	fs.StringVar(&o.mode, "auth", "none", "connect authentication on namespace /: none, jwt (--auth-jwt-*) or hook (--auth-hook-*)")
	fs.StringVar(&o.tokenField, "auth-token-field", "token", "with --auth jwt: the CONNECT payload field holding the token (the client's auth: {token})")
	fs.StringVar(&o.tokenHeader, "auth-token-header", "Authorization", `with --auth jwt: the handshake header holding the token, "Bearer " prefix optional; "-" for none`)
	fs.StringVar(&o.tokenQuery, "auth-token-query", "", "with --auth jwt: the handshake query parameter holding the token; empty for none (URLs end up in access logs)")
	fs.StringVar(&o.jwtSecret, "auth-jwt-secret", "", "HS256 shared secret, 32 bytes or more (prefer SIOGATE_AUTH_JWT_SECRET or --auth-jwt-secret-file to keep it out of the process list)")
	fs.StringVar(&o.jwtSecretFile, "auth-jwt-secret-file", "", "file holding the HS256 shared secret (a trailing newline is dropped)")
	fs.StringVar(&o.jwtKeysFile, "auth-jwt-keys-file", "", "PEM file of public keys (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks) verifying RS256/ES256/EdDSA tokens")
	fs.StringVar(&o.jwksURL, "auth-jwt-jwks-url", "", "JWKS URL of the public keys verifying RS256/ES256 tokens; fetched at start, then refreshed")
	fs.DurationVar(&o.jwksRefresh, "auth-jwt-jwks-refresh", 5*time.Minute, "how often the JWKS is fetched again (also, at most every 10s, when a token names an unknown key id)")
	fs.StringVar(&o.issuer, "auth-jwt-issuer", "", "required iss claim; empty for any")
	fs.StringVar(&o.audience, "auth-jwt-audience", "", "required aud claim; empty for any")
	fs.DurationVar(&o.leeway, "auth-jwt-leeway", 10*time.Second, "clock skew allowed in the exp, nbf and iat checks")
	fs.StringVar(&o.roomsClaim, "auth-jwt-rooms-claim", "rooms", "claim listing the rooms the socket joins at connect")
	fs.StringVar(&o.dataClaims, "auth-jwt-data-claims", "", "claims copied into the socket data, comma-separated; empty for every claim but the registered ones and the rooms claim")
	fs.StringVar(&o.hookURL, "auth-hook-url", "", "with --auth hook: the backend URL each connect is POSTed to (see README, Connect authentication)")
	fs.DurationVar(&o.hookTimeout, "auth-hook-timeout", 3*time.Second, "bound of one hook call")
	fs.IntVar(&o.hookMaxInFlight, "auth-hook-max-in-flight", 64, "hook calls under way at most; a connect beyond waits at most --auth-hook-timeout for one to end")
	fs.StringVar(&o.hookHeaders, "auth-hook-headers", strings.Join(connauth.DefaultHookHeaders(), ","), `handshake headers forwarded to the hook, comma-separated; "-" for none`)
	fs.IntVar(&o.hookFailures, "auth-hook-failures", 5, "consecutive hook failures (errors, timeouts) that open the circuit breaker")
	fs.DurationVar(&o.hookCoolDown, "auth-hook-cooldown", 10*time.Second, "how long the open breaker answers without calling the hook, before one probe call")
	fs.BoolVar(&o.hookFailOpen, "auth-hook-fail-open", false, "accept (without data) the connects the hook cannot decide: breaker open, timeout, failure; by default they are refused")
}

// on reports whether --auth asks for authentication.
func (o authOptions) on() bool { return o.mode != "none" && o.mode != "" }

// mountAuth puts the authentication --auth chooses in front of namespace
// "/". The returned closer stops it, then closes next (may be nil); on
// error next is closed.
func mountAuth(srv *gateway.Server, o authOptions, logger *slog.Logger, next io.Closer) (io.Closer, error) {
	mw, stop, err := newAuth(o, logger.With("layer", "auth"))
	if err != nil {
		if next != nil {
			_ = next.Close()
		}
		return nil, err
	}
	if mw == nil {
		return next, nil
	}
	srv.Of("/").Use(mw)
	return closers{next, closerFunc(func() error { stop(); return nil })}, nil
}

// newAuth builds the middleware --auth chooses (nil for none) and its
// stop function.
func newAuth(o authOptions, logger *slog.Logger) (gateway.Middleware, func(), error) {
	switch o.mode {
	case "none", "":
		return nil, nil, nil
	case "jwt":
		secret, err := jwtSecret(o)
		if err != nil {
			return nil, nil, err
		}
		cfg := connauth.JWTConfig{
			Secret: secret, JWKSURL: o.jwksURL, JWKSRefresh: o.jwksRefresh,
			Issuer: o.issuer, Audience: o.audience, Leeway: o.leeway,
			AuthField: o.tokenField, Header: o.tokenHeader, QueryParam: o.tokenQuery,
			RoomsClaim: o.roomsClaim, DataClaims: splitList(o.dataClaims), Logger: logger,
		}
		if o.jwtKeysFile != "" {
			if cfg.PublicKeysPEM, err = os.ReadFile(o.jwtKeysFile); err != nil {
				return nil, nil, fmt.Errorf("--auth-jwt-keys-file: %w", err)
			}
		}
		if secret == nil && cfg.PublicKeysPEM == nil && cfg.JWKSURL == "" {
			return nil, nil, errors.New("--auth jwt needs keys: set SIOGATE_AUTH_JWT_SECRET (or --auth-jwt-secret-file), --auth-jwt-keys-file or --auth-jwt-jwks-url")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		j, err := connauth.NewJWT(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("--auth jwt: %w", err)
		}
		return j.Middleware(), j.Close, nil
	case "hook":
		if o.hookURL == "" {
			return nil, nil, errors.New("--auth hook needs --auth-hook-url")
		}
		headers := splitList(o.hookHeaders)
		if o.hookHeaders == "-" || headers == nil {
			headers = []string{}
		}
		h, err := connauth.NewHook(connauth.HookConfig{
			URL: o.hookURL, Timeout: o.hookTimeout, MaxInFlight: o.hookMaxInFlight, Headers: headers,
			FailureThreshold: o.hookFailures, CoolDown: o.hookCoolDown, FailOpen: o.hookFailOpen, Logger: logger,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("--auth-hook-url: %w", err)
		}
		return h.Middleware(), h.Close, nil
	default:
		return nil, nil, fmt.Errorf("unknown --auth %q: want none, jwt or hook", o.mode)
	}
}

// minSecret is the shortest HS256 secret accepted: as long as the hash.
const minSecret = 32

// jwtSecret reads the HS256 secret from --auth-jwt-secret (or its
// environment variable) or --auth-jwt-secret-file; nil when neither.
func jwtSecret(o authOptions) ([]byte, error) {
	var secret []byte
	switch {
	case o.jwtSecret != "" && o.jwtSecretFile != "":
		return nil, errors.New("--auth-jwt-secret and --auth-jwt-secret-file: set one, not both")
	case o.jwtSecretFile != "":
		b, err := os.ReadFile(o.jwtSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--auth-jwt-secret-file: %w", err)
		}
		secret = bytes.TrimRight(b, "\r\n")
	case o.jwtSecret != "":
		secret = []byte(o.jwtSecret)
	default:
		return nil, nil
	}
	if len(secret) < minSecret {
		return nil, fmt.Errorf("the HS256 secret has %d bytes: use %d random bytes or more (e.g. `openssl rand -base64 32`)", len(secret), minSecret)
	}
	return secret, nil
}
