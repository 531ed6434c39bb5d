module github.com/siogate/siogate/worker

go 1.26

require (
	github.com/siogate/siogate/adapter v0.0.0
	github.com/siogate/siogate/emitter v0.0.0
)

require (
	github.com/siogate/siogate/protocol v0.0.0 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)

replace (
	github.com/siogate/siogate/adapter => ../adapter
	github.com/siogate/siogate/emitter => ../emitter
	github.com/siogate/siogate/protocol => ../protocol
)
