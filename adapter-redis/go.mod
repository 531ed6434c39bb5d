module github.com/siogate/siogate/adapter-redis

go 1.26

require (
	github.com/redis/go-redis/v9 v9.17.2
	github.com/siogate/siogate/adapter v0.0.0
	github.com/siogate/siogate/emitter v0.0.0
	github.com/siogate/siogate/protocol v0.0.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)

replace (
	github.com/siogate/siogate/adapter => ../adapter
	github.com/siogate/siogate/emitter => ../emitter
	github.com/siogate/siogate/protocol => ../protocol
)
