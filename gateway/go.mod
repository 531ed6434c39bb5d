module github.com/siogate/siogate/gateway

go 1.26

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/klauspost/compress v1.17.9
	github.com/lxzan/gws v1.8.9
	github.com/siogate/siogate/adapter v0.0.0
	github.com/siogate/siogate/protocol v0.0.0
	golang.org/x/crypto v0.57.0
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)

replace (
	github.com/siogate/siogate/adapter => ../adapter
	github.com/siogate/siogate/protocol => ../protocol
)
