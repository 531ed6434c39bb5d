// Package connauth authenticates Socket.IO connections: connect
// middlewares (see gateway.Namespace.Use) that accept a client with an
// identity, its user id, data and initial rooms, or refuse it with a
// CONNECT_ERROR the client reads as err.message and err.data.
//
// Two authenticators are offered:
//
//   - JWT verifies a token from the CONNECT payload, a header or a query
//     parameter (HS256 with a shared secret; RS256, ES256 and their kin
//     with public keys from PEM or a JWKS URL), and maps its claims.
//   - Hook asks a backend over HTTP: it POSTs the handshake and the
//     CONNECT payload as JSON and applies the answer, with a timeout, a
//     bound on calls in flight and a circuit breaker.
//
// An accepted socket's data (gateway.Socket.Data, shown by FetchSockets
// and the Admin UI) is a map[string]any: the identity's data plus
// "userId" when the user id is known.
//
//	jwtAuth, err := connauth.NewJWT(ctx, connauth.JWTConfig{Secret: secret})
//	...
//	srv.Of("/").Use(jwtAuth.Middleware())
package connauth

import (
	"fmt"

	"github.com/siogate/siogate/gateway"
)

// Identity is what an authenticator knows of an accepted client.
type Identity struct {
	// UserID identifies the user (a JWT's sub claim); "" when unknown.
	UserID string
	// Data becomes the socket's data, with "userId" added.
	Data map[string]any
	// Rooms are joined before the connect handler runs.
	Rooms []string
}

// UserIDKey is the key of the user id in the socket data.
const UserIDKey = "userId"

// apply sets the socket's data and joins its rooms. A refusal of the
// room limit comes back as a connect error for the client.
func (id Identity) apply(s *gateway.Socket) error {
	data := make(map[string]any, len(id.Data)+1)
	for k, v := range id.Data {
		data[k] = v
	}
	if id.UserID != "" {
		data[UserIDKey] = id.UserID
	}
	if len(id.Rooms) > 0 {
		if err := s.Join(id.Rooms...); err != nil {
			return &gateway.ConnectError{Message: "unauthorized: too many rooms", Data: map[string]any{"code": "too_many_rooms"}}
		}
	}
	s.SetData(data)
	return nil
}

// refusal is a connect error with a stable code in its data, so that
// clients can tell the causes apart without parsing the message.
func refusal(code, format string, args ...any) *gateway.ConnectError {
	return &gateway.ConnectError{Message: fmt.Sprintf(format, args...), Data: map[string]any{"code": code}}
}
