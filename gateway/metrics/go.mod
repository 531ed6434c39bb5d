module github.com/siogate/siogate/gateway/metrics

go 1.26.0

require (
	github.com/lxzan/gws v1.8.9
	github.com/prometheus/client_golang v1.23.2
	github.com/prometheus/client_model v0.6.3
	github.com/prometheus/common v0.74.0
	github.com/siogate/siogate/adapter v0.0.0
	github.com/siogate/siogate/gateway v0.0.0
	github.com/siogate/siogate/protocol v0.0.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/klauspost/compress v1.18.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pandatix/go-abnf v0.5.5 // indirect
	github.com/prometheus/procfs v0.21.0 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/siogate/siogate/adapter => ../../adapter
	github.com/siogate/siogate/gateway => ..
	github.com/siogate/siogate/protocol => ../../protocol
)
