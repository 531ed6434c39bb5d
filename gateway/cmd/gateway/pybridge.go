package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/pybridge"
)

// startPyBridge listens on python-socketio's manager channel
// (--python-channel) through a broker of --adapter's kind, so that
// Python workers' write-only managers (RedisManager, KombuManager on
// RabbitMQ, KafkaManager) reach this node's sockets. It returns closer
// with the bridge and its broker added.
func startPyBridge(srv *gateway.Server, o options, logger *slog.Logger, closer io.Closer) (io.Closer, error) {
	log := logger.With("layer", "pybridge")
	var b interface {
		adapter.Broker
		io.Closer
	}
	var err error
	switch o.adapterName {
	case "redis":
		// RedisManager publishes with PUBLISH, whatever the adapter's
		// layout: a classic broker (a ?sharded= parameter is not applied).
		var client redis.UniversalClient
		if client, err = redisadapter.ClientFromURL(o.redisURL); err != nil {
			break
		}
		var rb *redisadapter.Broker
		if rb, err = redisadapter.NewBroker(redisadapter.Options{Client: client, Logger: log}); err != nil {
			_ = client.Close()
			break
		}
		b = ownedClient{rb, client}
	case "amqp":
		b, err = amqpadapter.NewBroker(amqpadapter.Options{URL: o.amqpURL, Logger: log})
	case "kafka":
		b, err = kafkaadapter.NewBroker(kafkaadapter.Options{URL: o.kafkaURL, Logger: log})
	default:
		err = fmt.Errorf("--python-channel needs --adapter redis, amqp or kafka (python-socketio's RedisManager, KombuManager or KafkaManager), not %q", o.adapterName)
	}
	if err != nil {
		return closer, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, err := pybridge.Start(ctx, srv, b, pybridge.Config{Channel: o.pythonChannel, Logger: log})
	if err != nil {
		_ = b.Close()
		return closer, err
	}
	return closers{closer, b, br}, nil
}

// ownedClient is a Redis broker on a client it closes with it.
type ownedClient struct {
	*redisadapter.Broker
	client redis.UniversalClient
}

func (o ownedClient) Close() error {
	err := o.Broker.Close()
	if cerr := o.client.Close(); err == nil {
		err = cerr
	}
	return err
}
