// Package kafkaadapter carries siogate's cluster protocol over Apache Kafka
// with segmentio/kafka-go. Every channel is a topic of one partition; every
// node reads partition 0 of its channels' topics (no consumer group), from
// the end of the log, so that every node receives every message. A node
// reads the topics of all its namespaces with one fetch loop: one fetch
// request per partition leader over a few pooled connections, whatever
// the number of namespaces. Nodes are counted by heartbeats; the protocol
// itself lives once in package adapter. It is the Go counterpart of
// python-socketio's KafkaManager.
//
//	f, closer, err := kafkaadapter.New(kafkaadapter.Options{URL: "kafka://127.0.0.1:9092"})
//	srv := gateway.NewServer(gateway.Config{Adapter: f})
package kafkaadapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/siogate/siogate/adapter"
)

// Options configure the Kafka adapter.
type Options struct {
	// URL lists the bootstrap brokers: kafka://host:port[,host:port...]
	// (each element may repeat the kafka:// scheme), or a plain
	// comma-separated host:port list. A missing port is 9092; "" and
	// "kafka://" mean 127.0.0.1:9092, as python-socketio's KafkaManager.
	URL string
	// Dialer, when set, is used for every connection (TLS, SASL, client
	// id, timeouts, a custom DialFunc): by the readers, the writer's
	// transport, topic creation and health probes.
	Dialer *kafka.Dialer
	// CreateTopic creates a missing topic with one partition. The default
	// sends a CreateTopics request (kafka-go's Client) with
	// ReplicationFactor; an error meaning that the topic already exists
	// must be reported as success (nil).
	CreateTopic func(ctx context.Context, topic string) error
	// ReplicationFactor of the topics the default CreateTopic creates
	// (default -1: the broker's default.replication.factor, Kafka 2.4+).
	ReplicationFactor int
	// BatchTimeout is how long the writer waits to gather concurrent
	// publishes into one produce request (default 1ms). Publish waits for
	// the broker's acknowledgement either way.
	BatchTimeout time.Duration
	// RequiredAcks is the acknowledgement Publish waits for (default
	// kafka.RequireOne, the partition leader).
	RequiredAcks kafka.RequiredAcks
	// FetchWait is how long the broker holds a fetch request that finds no
	// new message (default 500ms). Kafka answers as soon as a message
	// arrives, so this only sets the idle polling rate; brokers that do
	// not wake on new data (librdkafka's mock cluster) deliver within it.
	FetchWait time.Duration
	// MaxReconnectDelay caps the delay between health probes during an
	// outage, which doubles from 100ms (default 2s).
	MaxReconnectDelay time.Duration
	// Cluster configures the cluster protocol.
	Cluster adapter.ClusterConfig
	// Logger receives outage and recovery logs.
	Logger *slog.Logger
}

// ErrBadURL reports a Kafka URL this module cannot use.
var ErrBadURL = errors.New("kafkaadapter: bad Kafka URL")

// ErrNotConnected is returned by Publish while Kafka is unreachable.
var ErrNotConnected = errors.New("kafkaadapter: Kafka is unreachable (reconnecting)")

// maxTopicLen is Kafka's limit on topic names.
const maxTopicLen = 249

// New connects and returns the gateway adapter factory and a Closer.
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

// ParseURL returns the bootstrap brokers (host:port) of a URL as Options
// takes it.
func ParseURL(raw string) ([]string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return []string{"127.0.0.1:9092"}, nil
	}
	var out []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("%w: empty element in %q", ErrBadURL, raw)
		}
		hostport := part
		if i := strings.Index(part, "://"); i >= 0 {
			u, err := url.Parse(part)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
			}
			if u.Scheme != "kafka" {
				return nil, fmt.Errorf("%w: scheme %q (want kafka://host:port)", ErrBadURL, u.Scheme)
			}
			if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				return nil, fmt.Errorf("%w: %q has more than host:port (credentials and TLS go in Options.Dialer)", ErrBadURL, part)
			}
			hostport = u.Host
			if hostport == "" {
				hostport = "127.0.0.1:9092"
			}
		} else if strings.ContainsAny(part, "/?@") {
			return nil, fmt.Errorf("%w: %q is neither kafka://host:port nor host:port", ErrBadURL, part)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			// No port: the whole element is the host.
			host, port = strings.Trim(hostport, "[]"), "9092"
			if strings.Contains(host, ":") && !strings.HasPrefix(hostport, "[") {
				return nil, fmt.Errorf("%w: %q: %v", ErrBadURL, part, err)
			}
		}
		if host == "" {
			return nil, fmt.Errorf("%w: no host in %q", ErrBadURL, part)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q in %q", ErrBadURL, port, part)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

// TopicName maps a channel to its Kafka topic. Kafka names allow only
// [a-zA-Z0-9._-], and treat '.' and '_' as the same character when it
// checks for collisions, so the name keeps letters, digits and '-' and
// writes every other byte of adapter.SafeName(channel) (whose '%XX' escapes
// become '_XX') as '_' and two hex digits: "socket.io#/#" becomes
// "socket_2Eio_23_2F_23". The mapping is one-to-one and never produces '.',
// and it preserves prefixes (TopicName(a+b) = TopicName(a)+TopicName(b)).
func TopicName(channel string) string {
	const hex = "0123456789ABCDEF"
	safe := adapter.SafeName(channel)
	b := make([]byte, 0, len(safe)+8)
	for i := 0; i < len(safe); i++ {
		c := safe[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-':
			b = append(b, c)
		case c == '%':
			// SafeName's escape of a byte it does not keep: %XX → _XX.
			b = append(b, '_')
		default:
			// '_', '#', '/': kept by SafeName, so "%5F", "%23" and
			// "%2F" never occur in its output and cannot collide.
			b = append(b, '_', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// Broker is the Kafka transport. It implements adapter.Broker and is the
// publish side the emitter module takes. Its readers and writer reconnect
// by themselves; the Broker logs each outage once, and probes Kafka until
// it answers again.
type Broker struct {
	opts    Options
	log     *slog.Logger
	brokers []string
	dialer  *kafka.Dialer
	tr      *kafka.Transport // the writer's and topic creation's
	rtr     *kafka.Transport // the fetch loop's
	writer  *kafka.Writer
	create  func(ctx context.Context, topic string) error

	createMu sync.Mutex // serializes topic creation

	mu      sync.Mutex
	topics  map[string]bool // topics known to exist with a leader
	down    bool            // an outage is confirmed and being probed
	probing bool            // a probe is running (confirming or ending an outage)
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup

	demux adapter.Demux
	rmu   sync.Mutex                          // guards what follows
	reads map[string]*readTopic               // topic → read state; nil until the first Subscribe
	bySub map[*adapter.DemuxSub]*subscription // for the start offsets
	wake  chan struct{}                       // a topic was added

	refreshing atomic.Bool   // a metadata refresh for unknown topics runs
	dials      chan struct{} // bounds the connections lastOffset opens at once
}

var _ adapter.Broker = (*Broker)(nil)

// NewBroker checks the URL and that Kafka answers a metadata request,
// failing with a clear error otherwise.
func NewBroker(opts Options) (*Broker, error) {
	brokers, err := ParseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.ReplicationFactor == 0 {
		opts.ReplicationFactor = -1
	}
	if opts.BatchTimeout <= 0 {
		opts.BatchTimeout = time.Millisecond
	}
	if opts.RequiredAcks == kafka.RequireNone {
		opts.RequiredAcks = kafka.RequireOne
	}
	if opts.FetchWait <= 0 {
		opts.FetchWait = 500 * time.Millisecond
	}
	opts.FetchWait = max(opts.FetchWait, 10*time.Millisecond)
	if opts.MaxReconnectDelay <= 0 {
		opts.MaxReconnectDelay = 2 * time.Second
	}
	b := &Broker{
		opts:    opts,
		log:     opts.Logger,
		brokers: brokers,
		dialer:  opts.Dialer,
		topics:  make(map[string]bool),
		stop:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		dials:   make(chan struct{}, maxDials),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.dialer == nil {
		b.dialer = &kafka.Dialer{ClientID: "siogate", Timeout: 5 * time.Second, DualStack: true, KeepAlive: 30 * time.Second}
	}
	dial := b.dialer.DialFunc
	if dial == nil {
		nd := &net.Dialer{Timeout: b.dialer.Timeout, KeepAlive: b.dialer.KeepAlive}
		dial = nd.DialContext
	}
	b.tr = &kafka.Transport{
		Dial:        dial,
		DialTimeout: b.dialer.Timeout,
		ClientID:    b.dialer.ClientID,
		TLS:         b.dialer.TLS,
		SASL:        b.dialer.SASLMechanism,
		MetadataTTL: 10 * time.Second,
	}
	// The fetch loop's long polls get their own connections.
	b.rtr = &kafka.Transport{
		Dial:        dial,
		DialTimeout: b.dialer.Timeout,
		ClientID:    b.dialer.ClientID,
		TLS:         b.dialer.TLS,
		SASL:        b.dialer.SASLMechanism,
		MetadataTTL: 10 * time.Second,
	}
	b.writer = &kafka.Writer{
		Addr: kafka.TCP(brokers...),
		// Readers read partition 0 only; a topic that exists with more
		// partitions (created by someone else) still works.
		Balancer:        kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 250 * time.Millisecond,
		BatchTimeout:    opts.BatchTimeout,
		BatchBytes:      64 << 20,
		ReadTimeout:     5 * time.Second,
		WriteTimeout:    5 * time.Second,
		RequiredAcks:    opts.RequiredAcks,
		Transport:       b.tr,
	}
	b.create = opts.CreateTopic
	if b.create == nil {
		b.create = b.createTopic
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.ping(ctx); err != nil {
		b.tr.CloseIdleConnections()
		b.rtr.CloseIdleConnections()
		return nil, fmt.Errorf("kafkaadapter: Kafka at %s does not answer (is it running and reachable?): %w", strings.Join(brokers, ","), err)
	}
	return b, nil
}

// ping asks a bootstrap broker for the cluster's brokers.
func (b *Broker) ping(ctx context.Context) error {
	var err error
	for _, addr := range b.brokers {
		var conn *kafka.Conn
		if conn, err = b.dialer.DialContext(ctx, "tcp", addr); err != nil {
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Brokers()
		_ = conn.Close()
		if err == nil {
			return nil
		}
	}
	return err
}

// createTopic is the default Options.CreateTopic. A topic that already
// exists is left alone without asking to create it, so clusters where
// operators provision topics (and clients may not create them) work.
func (b *Broker) createTopic(ctx context.Context, topic string) error {
	if b.topicExists(ctx, topic) {
		return nil
	}
	c := &kafka.Client{Addr: kafka.TCP(b.brokers...), Transport: b.tr, Timeout: 10 * time.Second}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: b.opts.ReplicationFactor,
	}}})
	if err != nil {
		return err
	}
	if err := res.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return err
	}
	return nil
}

// topicExists reports whether the cluster already has topic.
func (b *Broker) topicExists(ctx context.Context, topic string) bool {
	for _, addr := range b.brokers {
		conn, err := b.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		parts, err := conn.ReadPartitions(topic)
		_ = conn.Close()
		return err == nil && len(parts) > 0
	}
	return false
}

// prepare makes sure topic exists with a leader for partition 0 and
// returns the offset the next message will get.
func (b *Broker) prepare(ctx context.Context, topic string) (int64, error) {
	if len(topic) > maxTopicLen {
		return 0, fmt.Errorf("kafkaadapter: topic %s is longer than Kafka's %d bytes", topic, maxTopicLen)
	}
	b.mu.Lock()
	known := b.topics[topic]
	b.mu.Unlock()
	if !known {
		b.createMu.Lock()
		err := b.create(ctx, topic)
		b.createMu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("kafkaadapter: create topic %s: %w", topic, err)
		}
	}
	// A new topic takes a moment to get a leader.
	delay := 20 * time.Millisecond
	for {
		last, err := b.lastOffset(ctx, topic)
		if err == nil {
			b.mu.Lock()
			b.topics[topic] = true
			b.mu.Unlock()
			return last, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("kafkaadapter: topic %s: %w", topic, err)
		case <-b.stop:
			return 0, adapter.ErrClosed
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// maxDials bounds the connections lastOffset opens at once, so that many
// namespaces subscribing together (each preparing its topics) do not
// open a connection each.
const maxDials = 4

// lastOffset asks the leader of topic's partition 0 for its end offset.
func (b *Broker) lastOffset(ctx context.Context, topic string) (int64, error) {
	select {
	case b.dials <- struct{}{}:
		defer func() { <-b.dials }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	var err error
	for _, addr := range b.brokers {
		var conn *kafka.Conn
		if conn, err = b.dialer.DialLeader(ctx, "tcp", addr, topic, 0); err != nil {
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		var last int64
		last, err = conn.ReadLastOffset()
		_ = conn.Close()
		if err == nil {
			return last, nil
		}
	}
	return 0, err
}

// bounded gives ctx a deadline when it has none.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// Publish writes data to the channel's topic (creating it when missing)
// and waits for the broker's acknowledgement.
func (b *Broker) Publish(ctx context.Context, channel string, data []byte) error {
	topic := TopicName(channel)
	b.mu.Lock()
	closed, down, known := b.closed, b.down, b.topics[topic]
	b.mu.Unlock()
	switch {
	case closed:
		return adapter.ErrClosed
	case down:
		return ErrNotConnected
	}
	ctx, cancel := bounded(ctx, 10*time.Second)
	defer cancel()
	if !known {
		if _, err := b.prepare(ctx, topic); err != nil {
			b.suspect(topic, err)
			return err
		}
	}
	if err := b.writer.WriteMessages(ctx, kafka.Message{Topic: topic, Value: data}); err != nil {
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			b.forget(topic)
		}
		b.suspect(topic, err)
		return fmt.Errorf("kafkaadapter: publish to %s: %w", topic, err)
	}
	return nil
}

func (b *Broker) forget(topic string) {
	b.mu.Lock()
	delete(b.topics, topic)
	b.mu.Unlock()
}

// suspect reacts to a reader's or the writer's error: unless a probe is
// already running, it probes Kafka, and only a failed probe makes an
// outage (logged once, probed until Kafka answers again). Errors that a
// probe finds harmless (a slow fetch, a moved leader) stay at debug level.
func (b *Broker) suspect(topic string, cause error) {
	b.mu.Lock()
	if b.closed || b.down || b.probing {
		b.mu.Unlock()
		b.log.Debug("kafkaadapter: Kafka error", "topic", topic, "err", cause)
		return
	}
	b.probing = true
	b.wg.Add(1)
	b.mu.Unlock()
	go b.probe(topic, cause)
}

// check tells whether Kafka serves topic: a broker answering with a Kafka
// error (the topic is gone, its leader moves) counts as reachable, since
// recovery recreates topics.
func (b *Broker) check(topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := b.lastOffset(ctx, topic)
	var kerr kafka.Error
	if err != nil && errors.As(err, &kerr) {
		return nil
	}
	return err
}

func (b *Broker) probe(topic string, cause error) {
	defer b.wg.Done()
	if err := b.check(topic); err == nil {
		b.mu.Lock()
		b.probing = false
		b.mu.Unlock()
		b.log.Debug("kafkaadapter: transient Kafka error; Kafka answers", "topic", topic, "err", cause)
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.down = true
	b.mu.Unlock()
	b.log.Error("kafkaadapter: Kafka connection lost; serving local traffic only until it returns",
		"brokers", strings.Join(b.brokers, ","), "err", cause)
	delay := 100 * time.Millisecond
	for {
		select {
		case <-b.stop:
			return
		case <-time.After(delay):
		}
		if b.check(topic) == nil {
			break
		}
		delay = min(2*delay, b.opts.MaxReconnectDelay)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.down, b.probing = false, false
	// Kafka may have come back without its topics (a broker without
	// persistent storage): create them again as they are used.
	clear(b.topics)
	b.mu.Unlock()
	b.log.Info("kafkaadapter: reconnected to Kafka; readers resume", "brokers", strings.Join(b.brokers, ","))
	b.realign()
	b.wakeLoop()
}

// subscription is one Subscribe call's registration: the offset of
// each of its topics from which it receives (-1: from wherever reading
// starts).
type subscription struct {
	b    *Broker
	s    *adapter.DemuxSub
	from map[string]int64
	once sync.Once
}

// readTopic is a topic the node reads, and the offset of the next record.
type readTopic struct {
	channel string
	offset  int64     // -1 until the topic is prepared
	retry   time.Time // when to prepare it again after a failure
	delay   time.Duration
}

// Subscribe creates the channels' topics when missing and adds them, at
// their end offset, to what the node reads: every message published
// after Subscribe returns is delivered. Every subscription of a Broker
// (one per namespace of a gateway node) is served by one fetch loop that
// reads partition 0 of every wanted topic with one fetch request per
// partition leader, over the Broker's pooled connections, and delivers
// from one goroutine, in order per channel; a topic is read while a
// subscription wants it. Prefixes are ignored (reading without a
// consumer group cannot follow topic patterns). When Kafka is
// unreachable, the topics are read once it answers.
func (b *Broker) Subscribe(ctx context.Context, sub adapter.Subscription) (io.Closer, error) {
	b.mu.Lock()
	closed, down := b.closed, b.down
	b.mu.Unlock()
	if closed {
		return nil, adapter.ErrClosed
	}
	type start struct {
		topic  string
		offset int64
		err    error
	}
	seen := make(map[string]bool)
	var starts []start
	for _, ch := range sub.Channels {
		topic := TopicName(ch)
		if seen[topic] {
			continue
		}
		seen[topic] = true
		starts = append(starts, start{topic: topic, offset: -1})
	}
	if !down {
		pctx, cancel := bounded(ctx, 10*time.Second)
		var wg sync.WaitGroup
		for i := range starts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				starts[i].offset, starts[i].err = b.prepare(pctx, starts[i].topic)
			}()
		}
		wg.Wait()
		cancel()
	}
	s := &subscription{b: b, from: make(map[string]int64, len(starts))}
	for _, st := range starts {
		if st.err != nil {
			st.offset = -1
			b.log.Error("kafkaadapter: cannot read topic yet; retrying in the background", "topic", st.topic, "err", st.err)
			b.suspect(st.topic, st.err)
		}
		s.from[st.topic] = st.offset
	}

	b.rmu.Lock()
	if b.reads == nil {
		b.reads = make(map[string]*readTopic)
		b.bySub = make(map[*adapter.DemuxSub]*subscription)
		b.wg.Add(1)
		go b.fetchLoop()
	}
	ds, _ := b.demux.Add(sub)
	s.s = ds
	b.bySub[ds] = s
	for _, ch := range sub.Channels {
		topic := TopicName(ch)
		if _, ok := b.reads[topic]; !ok {
			b.reads[topic] = &readTopic{channel: ch, offset: s.from[topic]}
		}
	}
	b.rmu.Unlock()
	b.wakeLoop()
	return s, nil
}

// Close ends the subscription: it receives nothing once Close returns;
// topics no other subscription wants are no longer read.
func (s *subscription) Close() error {
	s.once.Do(func() {
		b := s.b
		b.rmu.Lock()
		delete(b.bySub, s.s)
		b.rmu.Unlock()
		gone := b.demux.Remove(s.s)
		b.rmu.Lock()
		for _, ch := range gone {
			if !b.demux.Wants(ch) {
				delete(b.reads, TopicName(ch))
			}
		}
		b.rmu.Unlock()
	})
	return nil
}

// ReadTopics returns the number of topics the node reads (one per
// distinct channel its subscriptions want).
func (b *Broker) ReadTopics() int {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	return len(b.reads)
}

// fetchBytes bounds a fetch response, and each partition's part of it,
// as kafka-go's readers did (Kafka still returns a first record batch
// larger than that; the writer may batch several messages into one).
const (
	fetchBytes          = 64 << 20
	fetchPartitionBytes = 64 << 20
)

// fetchLoop reads every wanted topic until the broker closes: one fetch
// request per partition leader at a time, each waiting up to
// Options.FetchWait for records.
func (b *Broker) fetchLoop() {
	defer b.wg.Done()
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			select {
			case <-b.stop:
				return
			case <-time.After(backoff):
			}
		}
		select {
		case <-b.stop:
			return
		default:
		}
		b.mu.Lock()
		down := b.down
		b.mu.Unlock()
		ready, next := b.readyTopics(down)
		if len(ready) == 0 {
			wait := time.Duration(-1)
			if !next.IsZero() {
				wait = max(time.Until(next), time.Millisecond)
			}
			var timer <-chan time.Time
			if wait > 0 {
				timer = time.After(wait)
			}
			select {
			case <-b.stop:
				return
			case <-b.wake:
			case <-timer:
			}
			backoff = 0
			continue
		}
		if b.fetch(ready) {
			backoff = 0
		} else {
			backoff = min(max(2*backoff, 50*time.Millisecond), 500*time.Millisecond)
		}
	}
}

// readyTopics prepares the topics that wait for it (unless Kafka is
// known to be down), and returns the topics to fetch with their offsets,
// and when the next preparation is due.
func (b *Broker) readyTopics(down bool) (ready map[string]int64, next time.Time) {
	b.rmu.Lock()
	var pending []string
	ready = make(map[string]int64, len(b.reads))
	now := time.Now()
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for topic, rt := range b.reads {
		switch {
		case now.Before(rt.retry):
			later(rt.retry)
		case rt.offset >= 0:
			ready[topic] = rt.offset
		case !down:
			pending = append(pending, topic)
		}
	}
	b.rmu.Unlock()
	for _, topic := range pending {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		offset, err := b.prepare(ctx, topic)
		cancel()
		b.rmu.Lock()
		rt := b.reads[topic]
		if rt != nil && rt.offset < 0 {
			if err == nil {
				rt.offset = offset
				ready[topic] = offset
			} else {
				later(rt.failed(b.opts.MaxReconnectDelay))
			}
		}
		b.rmu.Unlock()
		if err != nil {
			b.suspect(topic, err)
		}
	}
	return ready, next
}

// failed delays the next attempt at the topic, doubling the delay from
// 100ms up to limit, and returns when it is due.
func (rt *readTopic) failed(limit time.Duration) time.Time {
	rt.delay = min(max(2*rt.delay, 100*time.Millisecond), limit)
	rt.retry = time.Now().Add(rt.delay)
	return rt.retry
}

// fetch reads the topics once, grouped by partition leader, and delivers
// what it got. It reports whether every request succeeded.
func (b *Broker) fetch(topics map[string]int64) bool {
	addr := kafka.TCP(b.brokers...)
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// The transport routes a fetch by its cached metadata: group the
	// topics by the leaders it knows, and make it learn the others.
	m, err := b.rtr.RoundTrip(ctx, addr, &metadataAPI.Request{TopicNames: names})
	if err != nil {
		b.suspect(names[0], err)
		return false
	}
	byLeader := make(map[int32][]string)
	var unknown []string
	for _, t := range m.(*metadataAPI.Response).Topics {
		leader := int32(-1)
		for _, p := range t.Partitions {
			if p.PartitionIndex == 0 && p.ErrorCode == 0 {
				leader = p.LeaderID
			}
		}
		if t.ErrorCode != 0 || leader < 0 {
			unknown = append(unknown, t.Name)
			continue
		}
		byLeader[leader] = append(byLeader[leader], t.Name)
	}
	if len(unknown) > 0 && b.refreshing.CompareAndSwap(false, true) {
		// Every one was prepared, so it exists: asking for metadata that
		// may create topics makes the transport refresh its cache (and
		// creates none). Meanwhile the known topics are read.
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer b.refreshing.Store(false)
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer rcancel()
			go func() {
				select {
				case <-b.stop:
					rcancel()
				case <-rctx.Done():
				}
			}()
			_, _ = b.rtr.RoundTrip(rctx, addr, &metadataAPI.Request{TopicNames: unknown, AllowAutoTopicCreation: true})
			b.wakeLoop()
		}()
	}
	if len(byLeader) == 0 {
		// Nothing the transport can route yet: wait for the refresh.
		select {
		case <-b.stop:
		case <-b.wake:
		case <-time.After(b.opts.FetchWait):
		}
		return true
	}
	type result struct {
		res *fetchAPI.Response
		err error
	}
	groups := make([][]string, 0, len(byLeader))
	for _, g := range byLeader {
		groups = append(groups, g)
	}
	results := make([]result, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &fetchAPI.Request{
				ReplicaID:    -1,
				MaxWaitTime:  int32(b.opts.FetchWait / time.Millisecond),
				MinBytes:     1,
				MaxBytes:     fetchBytes,
				SessionID:    -1,
				SessionEpoch: -1,
			}
			for _, t := range g {
				req.Topics = append(req.Topics, fetchAPI.RequestTopic{Topic: t, Partitions: []fetchAPI.RequestPartition{{
					Partition: 0, CurrentLeaderEpoch: -1, FetchOffset: topics[t], LogStartOffset: -1, PartitionMaxBytes: fetchPartitionBytes,
				}}})
			}
			r, err := b.rtr.RoundTrip(ctx, addr, req)
			if err == nil {
				results[i].res = r.(*fetchAPI.Response)
			}
			results[i].err = err
		}()
	}
	wg.Wait()
	ok := true
	for i, r := range results {
		if r.err != nil {
			if !b.isClosed() {
				b.suspect(groups[i][0], r.err)
			}
			ok = false
			continue
		}
		if !b.deliver(r.res, topics) {
			ok = false
		}
	}
	return ok
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// deliver hands a fetch response's records to the subscriptions and
// moves the topics' offsets. It reports whether no partition failed.
func (b *Broker) deliver(res *fetchAPI.Response, fetched map[string]int64) bool {
	ok := res.ErrorCode == 0
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			if p.Partition != 0 {
				continue
			}
			if p.ErrorCode != 0 {
				// Only this topic waits before it is read again.
				b.partitionError(t.Topic, fetched[t.Topic], kafka.Error(p.ErrorCode))
				continue
			}
			next := fetched[t.Topic]
			if p.RecordSet.Records != nil {
				next = b.deliverRecords(t.Topic, next, p.RecordSet.Records)
			}
			b.rmu.Lock()
			if rt := b.reads[t.Topic]; rt != nil && rt.offset == fetched[t.Topic] {
				rt.offset, rt.delay = next, 0
			}
			b.rmu.Unlock()
		}
	}
	return ok
}

// deliverRecords delivers the records from offset on and returns the
// offset after the last one.
func (b *Broker) deliverRecords(topic string, offset int64, records protocol.RecordReader) int64 {
	b.rmu.Lock()
	rt := b.reads[topic]
	b.rmu.Unlock()
	if rt == nil {
		return offset // no longer wanted
	}
	for {
		rec, err := records.ReadRecord()
		if err != nil {
			// io.EOF, or a truncated last batch (the size limit): the
			// next fetch starts at offset.
			return offset
		}
		if rec.Offset < offset {
			continue // a batch may start before the offset asked for
		}
		data, err := protocol.ReadAll(rec.Value)
		if err != nil {
			return offset
		}
		if data == nil {
			data = []byte{}
		}
		at := rec.Offset
		b.demux.DeliverIf(rt.channel, data, func(ds *adapter.DemuxSub) bool {
			b.rmu.Lock()
			s := b.bySub[ds]
			b.rmu.Unlock()
			return s != nil && at >= s.from[topic]
		})
		offset = rec.Offset + 1
	}
}

// partitionError reacts to a fetch error of one topic: an offset past
// the end (Kafka lost data in an outage) moves to the end; other errors
// (a topic gone, a leader moving) are reported to suspect.
func (b *Broker) partitionError(topic string, offset int64, err error) {
	if errors.Is(err, kafka.OffsetOutOfRange) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last, perr := b.prepare(ctx, topic)
		cancel()
		if perr == nil {
			b.rmu.Lock()
			if rt := b.reads[topic]; rt != nil && rt.offset == offset {
				b.log.Warn("kafkaadapter: topic is shorter than before the outage; reading from its end", "topic", topic)
				rt.offset = last
			}
			b.rmu.Unlock()
			return
		}
		err = perr
	}
	b.rmu.Lock()
	if rt := b.reads[topic]; rt != nil {
		rt.failed(b.opts.MaxReconnectDelay)
	}
	b.rmu.Unlock()
	b.suspect(topic, err)
}

// wakeLoop makes the fetch loop look at its topics again.
func (b *Broker) wakeLoop() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// realign runs after an outage: it recreates missing topics and moves a
// topic whose offset is past the end of its partition (Kafka lost data)
// to the end.
func (b *Broker) realign() {
	b.rmu.Lock()
	offsets := make(map[string]int64, len(b.reads))
	for t, rt := range b.reads {
		if rt.offset >= 0 {
			offsets[t] = rt.offset
		}
	}
	b.rmu.Unlock()
	for topic, offset := range offsets {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		last, err := b.prepare(ctx, topic)
		cancel()
		if err != nil || offset <= last {
			continue
		}
		b.rmu.Lock()
		if rt := b.reads[topic]; rt != nil && rt.offset == offset {
			b.log.Warn("kafkaadapter: topic is shorter than before the outage; reading from its end", "topic", topic)
			rt.offset = last
		}
		b.rmu.Unlock()
	}
}

// Close stops every subscription and the writer.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	err := b.writer.Close()
	b.wg.Wait()
	b.tr.CloseIdleConnections()
	b.rtr.CloseIdleConnections()
	return err
}
