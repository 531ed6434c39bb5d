// Package redisadapter carries siogate's cluster protocol over Redis
// pub/sub with go-redis. The protocol is Node's classic
// @socket.io/redis-adapter one, so siogate nodes, Node servers using
// @socket.io/redis-adapter and @socket.io/redis-emitter share a cluster.
//
//	f, closer, err := redisadapter.New(redisadapter.Options{URL: "redis://127.0.0.1:6379/0"})
//	if err != nil { ... }
//	defer closer.Close()
//	srv := gateway.NewServer(gateway.Config{Adapter: f})
//
// This module only moves bytes: the request/response logic, ack routing
// and node counting live once in package adapter.
package redisadapter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
)

// Options configure the Redis adapter.
type Options struct {
	// URL of the Redis server: redis://[user:pw@]host:port[/db],
	// rediss:// for TLS, redis+sentinel://[user:pw@]h1:p1,h2:p2[/db]/master
	// for Sentinel, or redis+cluster://[user:pw@]h1:p1,h2:p2 (rediss+cluster
	// for TLS) for a Redis Cluster. Any of them may end with
	// ?sharded=dynamic|static|dynamic-private (or ?sharded=true, meaning
	// dynamic) to set Sharded and SubscriptionMode. Ignored when Client is
	// set.
	URL string
	// Client, when set, is used as it is (passthrough of every go-redis
	// option: a *redis.Client, *redis.ClusterClient, a failover client…).
	Client redis.UniversalClient
	// Cluster configures the cluster protocol; its Prefix is the channel
	// prefix (default "socket.io", Node's default key).
	Cluster adapter.ClusterConfig
	// Logger receives outage and recovery logs.
	Logger *slog.Logger
	// HealthInterval is how often the connection is checked to log
	// outages (default 1s).
	HealthInterval time.Duration
	// Sharded carries the cluster protocol on sharded pub/sub (SSUBSCRIBE,
	// SPUBLISH and PUBSUB SHARDNUMSUB; Redis 7 or later) in the layout of
	// Node's sharded adapter (createShardedAdapter), so that each message
	// goes only to the shard that owns its channel instead of to every
	// node of a Redis Cluster. Node servers in the cluster must use the
	// sharded adapter too, and emitters a sharded broker.
	Sharded bool
	// SubscriptionMode, with Sharded, is Node's subscriptionMode:
	// "dynamic" (default: a channel per public room), "static" (two
	// channels per namespace) or "dynamic-private" (a channel per room,
	// socket ids included).
	SubscriptionMode string
}

// New connects to Redis and returns the adapter factory for the gateway
// (gateway.Config.Adapter), and a Closer that stops the health monitor and,
// when the client was created from URL, closes it. It fails with a clear
// error when the URL is bad or Redis does not answer.
func New(opts Options) (adapter.Factory, io.Closer, error) {
	b, err := NewBroker(opts)
	if err != nil {
		return nil, nil, err
	}
	cfg := opts.Cluster
	if cfg.Logger == nil {
		cfg.Logger = opts.Logger
	}
	return adapter.NewCluster(b, cfg), b, nil
}

// Broker is the Redis transport: PUBLISH, (P)SUBSCRIBE and PUBSUB NUMSUB.
// It implements adapter.Broker and adapter.SubscriberCounter, and is the
// publish side the emitter module takes.
type Broker struct {
	client redis.UniversalClient
	own    bool
	log    *slog.Logger
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	hub    hub // the one subscribing connection of every subscription
	// sharded, when set, carries everything on SSUBSCRIBE/SPUBLISH.
	sharded *shardHub
	mode    wire.Mode
}

var (
	_ adapter.Broker            = (*Broker)(nil)
	_ adapter.SubscriberCounter = (*Broker)(nil)
	_ adapter.PublishCounter    = (*Broker)(nil)
	_ adapter.Epocher           = (*Broker)(nil)
	_ adapter.ChannelLister     = (*Broker)(nil)
	_ wire.LayoutProvider       = (*Broker)(nil)
)

// NewBroker connects to Redis (see Options) and checks that it answers.
func NewBroker(opts Options) (*Broker, error) {
	b := &Broker{client: opts.Client, log: opts.Logger, stop: make(chan struct{})}
	b.hub.b = b
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.client == nil {
		c, sharded, mode, err := parseURL(opts.URL)
		if err != nil {
			return nil, err
		}
		b.client, b.own = c, true
		if sharded {
			opts.Sharded, opts.SubscriptionMode = true, mode
		}
	}
	if opts.Sharded {
		mode, err := wire.ParseMode(opts.SubscriptionMode)
		if err != nil {
			if b.own {
				_ = b.client.Close()
			}
			return nil, fmt.Errorf("redisadapter: %w", err)
		}
		b.sharded, b.mode = &shardHub{b: b}, mode
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.client.Ping(ctx).Err(); err != nil {
		if b.own {
			_ = b.client.Close()
		}
		return nil, fmt.Errorf("redisadapter: Redis at %s does not answer (is it running and reachable?): %w", redactURL(opts.URL), err)
	}
	interval := opts.HealthInterval
	if interval <= 0 {
		interval = time.Second
	}
	b.wg.Add(1)
	go b.monitor(interval)
	return b, nil
}

// Client returns the go-redis client.
func (b *Broker) Client() redis.UniversalClient { return b.client }

// Layout is the cluster protocol's layout on this broker: Node's sharded
// one when Sharded, the classic one otherwise.
func (b *Broker) Layout() wire.Layout {
	if b.sharded != nil {
		return wire.Layout{Sharded: true, Mode: b.mode}
	}
	return wire.Layout{}
}

// Publish sends data on channel (SPUBLISH when sharded).
func (b *Broker) Publish(ctx context.Context, channel string, data []byte) error {
	if b.sharded != nil {
		return b.client.SPublish(ctx, channel, data).Err()
	}
	return b.client.Publish(ctx, channel, data).Err()
}

// PublishCount sends data on channel and returns how many subscribers
// (channel and pattern) Redis delivered it to; when sharded, SPUBLISH and
// the subscribers of the shard channel. The cluster adapter uses it and
// Epoch in both layouts, Channels in the classic layout only.
func (b *Broker) PublishCount(ctx context.Context, channel string, data []byte) (int, error) {
	if b.sharded != nil {
		n, err := b.client.SPublish(ctx, channel, data).Result()
		return int(n), err
	}
	n, err := b.client.Publish(ctx, channel, data).Result()
	return int(n), err
}

// Epoch identifies the Redis server process (a hash of its run_id, which
// changes on every restart, and differs on a failover's new primary): a
// new epoch means every subscription was dropped. A Redis Cluster, whose
// nodes each have their own, returns adapter.ErrNoEpoch.
func (b *Broker) Epoch(ctx context.Context) (uint64, error) {
	if _, ok := b.client.(*redis.ClusterClient); ok {
		return 0, adapter.ErrNoEpoch
	}
	info, err := b.client.Info(ctx, "server").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			h := fnv.New64a()
			_, _ = h.Write([]byte(id))
			return h.Sum64(), nil
		}
	}
	return 0, adapter.ErrNoEpoch
}

// Channels lists the channels with subscribers whose name starts with
// prefix (PUBSUB CHANNELS prefix*).
func (b *Broker) Channels(ctx context.Context, prefix string) ([]string, error) {
	return b.client.PubSubChannels(ctx, escapeGlob(prefix)+"*").Result()
}

// NumSub counts the subscribers of channel (PUBSUB SHARDNUMSUB at the
// channel's master when sharded).
func (b *Broker) NumSub(ctx context.Context, channel string) (int, error) {
	if b.sharded != nil {
		c := redis.Cmdable(b.client)
		if cc, ok := b.client.(*redis.ClusterClient); ok {
			m, err := cc.MasterForKey(ctx, channel)
			if err != nil {
				return 0, err
			}
			c = m
		}
		m, err := c.PubSubShardNumSub(ctx, channel).Result()
		if err != nil {
			return 0, err
		}
		return int(m[channel]), nil
	}
	m, err := b.client.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		return 0, err
	}
	return int(m[channel]), nil
}

// Subscribe subscribes to the channels and, with PSUBSCRIBE, to the
// prefixes. A channel that a prefix already covers is not subscribed
// again, so each message arrives once. Every subscription of the broker
// shares one Redis connection and one reading goroutine, however many
// namespaces subscribe (see hub); go-redis reconnects and resubscribes by
// itself after an outage.
func (b *Broker) Subscribe(ctx context.Context, sub adapter.Subscription) (io.Closer, error) {
	var exact []string
	for _, c := range sub.Channels {
		covered := false
		for _, p := range sub.Prefixes {
			if strings.HasPrefix(c, p) {
				covered = true
			}
		}
		if !covered {
			exact = append(exact, c)
		}
	}
	if b.sharded != nil {
		// SSUBSCRIBE has no patterns: the sharded layout needs none.
		return b.sharded.add(ctx, &hubSub{deliver: sub.Deliver, exact: sub.Channels})
	}
	patterns := make([]string, len(sub.Prefixes))
	for i, p := range sub.Prefixes {
		patterns[i] = escapeGlob(p) + "*"
	}
	return b.hub.add(ctx, &hubSub{deliver: sub.Deliver, exact: exact, patterns: patterns})
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// escapeGlob escapes Redis glob characters in a literal prefix.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// monitor logs when Redis stops and starts answering.
func (b *Broker) monitor(interval time.Duration) {
	defer b.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	down := false
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		err := b.client.Ping(ctx).Err()
		cancel()
		switch {
		case err != nil && !down:
			down = true
			b.log.Error("redisadapter: Redis unreachable; serving local traffic only until it returns", "err", err)
		case err == nil && down:
			down = false
			b.log.Info("redisadapter: Redis reachable again; resubscribed")
		}
	}
}

// Close stops the monitor and closes the client if the broker created it.
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() {
		close(b.stop)
		b.wg.Wait()
		b.hub.close()
		if b.sharded != nil {
			b.sharded.close()
		}
		if b.own {
			err = b.client.Close()
		}
	})
	return err
}

// ErrBadURL reports a Redis URL this module cannot use.
var ErrBadURL = errors.New("redisadapter: bad Redis URL")

// ClientFromURL creates a go-redis client from a redis://, rediss://,
// redis+sentinel:// or redis+cluster:// URL (a ?sharded= parameter is
// accepted and ignored: it is the adapter's).
func ClientFromURL(raw string) (redis.UniversalClient, error) {
	c, _, _, err := parseURL(raw)
	return c, err
}

// parseURL creates the client of a URL and reads its sharded parameter.
func parseURL(raw string) (c redis.UniversalClient, sharded bool, mode string, err error) {
	if raw == "" {
		return nil, false, "", fmt.Errorf("%w: empty (want redis://host:port/db)", ErrBadURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, false, "", fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if q := u.Query(); q.Has("sharded") {
		switch v := q.Get("sharded"); v {
		case "", "1", "true", "yes":
			sharded = true
		case "0", "false", "no":
		default:
			if _, err := wire.ParseMode(v); err != nil {
				return nil, false, "", fmt.Errorf("%w: sharded=%q (want true, static, dynamic or dynamic-private)", ErrBadURL, v)
			}
			sharded, mode = true, v
		}
		q.Del("sharded")
		u.RawQuery = q.Encode()
		raw = u.String()
	}
	switch u.Scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, false, "", fmt.Errorf("%w: %v", ErrBadURL, err)
		}
		return redis.NewClient(o), sharded, mode, nil
	case "redis+sentinel":
		o, err := parseSentinel(u)
		if err != nil {
			return nil, false, "", err
		}
		return redis.NewFailoverClient(o), sharded, mode, nil
	case "redis+cluster", "rediss+cluster":
		o := &redis.ClusterOptions{}
		for _, h := range strings.Split(u.Host, ",") {
			if h = strings.TrimSpace(h); h != "" {
				if !strings.Contains(h, ":") {
					h += ":6379"
				}
				o.Addrs = append(o.Addrs, h)
			}
		}
		if len(o.Addrs) == 0 {
			return nil, false, "", fmt.Errorf("%w: no cluster nodes (want redis+cluster://h1:p1,h2:p2)", ErrBadURL)
		}
		if u.User != nil {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
		if u.Scheme == "rediss+cluster" {
			o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return redis.NewClusterClient(o), sharded, mode, nil
	default:
		return nil, false, "", fmt.Errorf("%w: scheme %q (want redis, rediss, redis+sentinel or redis+cluster)", ErrBadURL, u.Scheme)
	}
}

// parseSentinel reads redis+sentinel://user:pw@h1:p1,h2:p2/db/master.
func parseSentinel(u *url.URL) (*redis.FailoverOptions, error) {
	o := &redis.FailoverOptions{}
	for _, h := range strings.Split(u.Host, ",") {
		if h = strings.TrimSpace(h); h != "" {
			if !strings.Contains(h, ":") {
				h += ":26379"
			}
			o.SentinelAddrs = append(o.SentinelAddrs, h)
		}
	}
	if len(o.SentinelAddrs) == 0 {
		return nil, fmt.Errorf("%w: no sentinel hosts", ErrBadURL)
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
		o.SentinelUsername, o.SentinelPassword = o.Username, o.Password
	}
	parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	switch len(parts) {
	case 1:
		o.MasterName = parts[0]
	case 2:
		db, err := strconv.Atoi(parts[0])
		if err != nil {
			return nil, fmt.Errorf("%w: database %q is not a number", ErrBadURL, parts[0])
		}
		o.DB, o.MasterName = db, parts[1]
	default:
		return nil, fmt.Errorf("%w: want redis+sentinel://hosts/db/master-name", ErrBadURL)
	}
	return o, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}
