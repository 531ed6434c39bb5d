module github.com/siogate/siogate/gateway/cmd/gateway

go 1.26.0

require (
	github.com/confluentinc/confluent-kafka-go/v2 v2.11.1
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/nats-io/nats.go v1.55.0
	github.com/prometheus/client_golang v1.23.2
	github.com/prometheus/client_model v0.6.3
	github.com/prometheus/common v0.74.0
	github.com/redis/go-redis/v9 v9.17.2
	github.com/siogate/siogate/adapter v0.0.0
	github.com/siogate/siogate/adapter-amqp v0.0.0
	github.com/siogate/siogate/adapter-kafka v0.0.0
	github.com/siogate/siogate/adapter-nats v0.0.0
	github.com/siogate/siogate/adapter-redis v0.0.0
	github.com/siogate/siogate/client v0.0.0
	github.com/siogate/siogate/emitter v0.0.0
	github.com/siogate/siogate/gateway v0.0.0
	github.com/siogate/siogate/gateway/metrics v0.0.0
	github.com/siogate/siogate/protocol v0.0.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/lxzan/gws v1.8.9 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/pandatix/go-abnf v0.5.5 // indirect
	github.com/pierrec/lz4/v4 v4.1.15 // indirect
	github.com/prometheus/procfs v0.21.0 // indirect
	github.com/rabbitmq/amqp091-go v1.16.0 // indirect
	github.com/segmentio/kafka-go v0.4.51 // indirect
	github.com/siogate/siogate/worker v0.0.0
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/siogate/siogate/adapter => ../../../adapter
	github.com/siogate/siogate/adapter-amqp => ../../../adapter-amqp
	github.com/siogate/siogate/adapter-kafka => ../../../adapter-kafka
	github.com/siogate/siogate/adapter-nats => ../../../adapter-nats
	github.com/siogate/siogate/adapter-redis => ../../../adapter-redis
	github.com/siogate/siogate/client => ../../../client
	github.com/siogate/siogate/emitter => ../../../emitter
	github.com/siogate/siogate/gateway => ../..
	github.com/siogate/siogate/gateway/metrics => ../../metrics
	github.com/siogate/siogate/protocol => ../../../protocol
)

replace github.com/siogate/siogate/worker => ../../../worker
