module github.com/siogate/siogate/adapter

go 1.26

require (
	github.com/siogate/siogate/protocol v0.0.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
)

require github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect

replace github.com/siogate/siogate/protocol => ../protocol
