module github.com/siogate/siogate/bench

go 1.26.0

require (
	github.com/confluentinc/confluent-kafka-go/v2 v2.11.1
	github.com/lxzan/gws v1.8.9
	github.com/nats-io/nats.go v1.55.0
	github.com/siogate/siogate/adapter v0.0.0
	github.com/siogate/siogate/adapter-amqp v0.0.0
	github.com/siogate/siogate/adapter-kafka v0.0.0
	github.com/siogate/siogate/adapter-nats v0.0.0
	github.com/siogate/siogate/adapter-redis v0.0.0
	github.com/siogate/siogate/gateway v0.0.0
	github.com/siogate/siogate/protocol v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/pierrec/lz4/v4 v4.1.15 // indirect
	github.com/rabbitmq/amqp091-go v1.16.0 // indirect
	github.com/redis/go-redis/v9 v9.17.2 // indirect
	github.com/segmentio/kafka-go v0.4.51 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace (
	github.com/siogate/siogate/adapter => ../adapter
	github.com/siogate/siogate/adapter-amqp => ../adapter-amqp
	github.com/siogate/siogate/adapter-kafka => ../adapter-kafka
	github.com/siogate/siogate/adapter-nats => ../adapter-nats
	github.com/siogate/siogate/adapter-redis => ../adapter-redis
	github.com/siogate/siogate/emitter => ../emitter
	github.com/siogate/siogate/gateway => ../gateway
	github.com/siogate/siogate/protocol => ../protocol
)
