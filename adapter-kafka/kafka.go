// Package kafkaadapter carries siogate's cluster protocol over Apache Kafka
// with segmentio/kafka-go. Every channel is a topic of one partition; every
// node reads partition 0 of its channels' topics with its own readers (no
// consumer group), from the end of the log, so that every node receives
// every message. Nodes are counted by heartbeats; the protocol itself lives
// once in package adapter. It is the Go counterpart of python-socketio's
// KafkaManager.
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
	"time"

	"github.com/segmentio/kafka-go"
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
	tr      *kafka.Transport
	writer  *kafka.Writer
	create  func(ctx context.Context, topic string) error

	createMu sync.Mutex // serializes topic creation

	mu      sync.Mutex
	topics  map[string]bool // topics known to exist with a leader
	subs    map[*subscription]struct{}
	down    bool // an outage is confirmed and being probed
	probing bool // a probe is running (confirming or ending an outage)
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
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
		subs:    make(map[*subscription]struct{}),
		stop:    make(chan struct{}),
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

// lastOffset asks the leader of topic's partition 0 for its end offset.
func (b *Broker) lastOffset(ctx context.Context, topic string) (int64, error) {
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
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	b.log.Info("kafkaadapter: reconnected to Kafka; readers resume", "brokers", strings.Join(b.brokers, ","))
	for _, s := range subs {
		s.realign()
	}
}

// subscription reads its channels' topics, one reader each, and delivers
// from one goroutine.
type subscription struct {
	b      *Broker
	sub    adapter.Subscription
	ctx    context.Context
	cancel context.CancelFunc
	msgs   chan delivery
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex
	readers map[string]*kafka.Reader // topic → reader, once started
}

type delivery struct {
	channel string
	data    []byte
}

// Subscribe creates the channels' topics when missing and starts one
// reader per topic at its end offset: every message published after
// Subscribe returns is delivered. Messages are delivered from one
// goroutine, in order per channel. Prefixes are ignored (Kafka readers
// without a consumer group cannot follow topic patterns). When Kafka is
// unreachable, the readers start in the background once it answers.
func (b *Broker) Subscribe(ctx context.Context, sub adapter.Subscription) (io.Closer, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, adapter.ErrClosed
	}
	down := b.down
	s := &subscription{b: b, sub: sub, msgs: make(chan delivery, 1024), readers: make(map[string]*kafka.Reader)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	b.subs[s] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		select {
		case <-b.stop:
			_ = s.Close()
		case <-s.ctx.Done():
		}
	}()

	type start struct {
		topic, channel string
		offset         int64
		err            error
	}
	seen := make(map[string]bool)
	var starts []start
	for _, ch := range sub.Channels {
		topic := TopicName(ch)
		if seen[topic] {
			continue
		}
		seen[topic] = true
		starts = append(starts, start{topic: topic, channel: ch, offset: -1})
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
	for _, st := range starts {
		if st.err != nil {
			b.log.Error("kafkaadapter: cannot read topic yet; retrying in the background", "topic", st.topic, "err", st.err)
			b.suspect(st.topic, st.err)
		}
		s.wg.Add(1)
		go s.read(st.topic, st.channel, st.offset)
	}
	s.wg.Add(1)
	go s.deliver()
	return s, nil
}

// read runs the reader of one topic from offset (-1: not prepared yet).
func (s *subscription) read(topic, channel string, offset int64) {
	defer s.wg.Done()
	b := s.b
	delay := 100 * time.Millisecond
	for offset < 0 {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(delay):
		}
		pctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		var err error
		offset, err = b.prepare(pctx, topic)
		cancel()
		if err != nil {
			offset = -1
			b.suspect(topic, err)
			delay = min(2*delay, b.opts.MaxReconnectDelay)
		}
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   b.brokers,
		Topic:     topic,
		Partition: 0,
		Dialer:    b.dialer,
		MinBytes:  1,
		MaxBytes:  64 << 20,
		// kafka-go asks the broker to wait MaxWait less one second
		// (its allowance for the round trip) when MaxWait is a second
		// or more.
		MaxWait:        b.opts.FetchWait + time.Second,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
		MaxAttempts:    3,
		ErrorLogger: kafka.LoggerFunc(func(format string, args ...any) {
			if s.ctx.Err() == nil {
				b.suspect(topic, fmt.Errorf(format, args...))
			}
		}),
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return
	}
	s.mu.Lock()
	s.readers[topic] = r
	s.mu.Unlock()
	for {
		m, err := r.ReadMessage(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			// The reader keeps retrying by itself.
			b.suspect(topic, err)
			continue
		}
		select {
		case s.msgs <- delivery{channel, m.Value}:
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *subscription) deliver() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case d := <-s.msgs:
			s.sub.Deliver(d.channel, d.data)
		}
	}
}

// realign runs after an outage: it recreates missing topics and moves a
// reader whose offset is past the end of its partition (Kafka lost data)
// to the end, where kafka-go would otherwise wait forever.
func (s *subscription) realign() {
	s.mu.Lock()
	readers := make(map[string]*kafka.Reader, len(s.readers))
	for t, r := range s.readers {
		readers[t] = r
	}
	s.mu.Unlock()
	for topic, r := range readers {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		last, err := s.b.prepare(ctx, topic)
		cancel()
		if err != nil {
			continue
		}
		if r.Offset() > last {
			s.b.log.Warn("kafkaadapter: topic is shorter than before the outage; reading from its end", "topic", topic)
			_ = r.SetOffset(last)
		}
	}
}

// Close stops the subscription's readers.
func (s *subscription) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.b.mu.Lock()
		delete(s.b.subs, s)
		s.b.mu.Unlock()
		s.wg.Wait()
	})
	return nil
}

// Close stops every subscription and the writer.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	close(b.stop)
	for _, s := range subs {
		_ = s.Close()
	}
	err := b.writer.Close()
	b.wg.Wait()
	b.tr.CloseIdleConnections()
	return err
}
