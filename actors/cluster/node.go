package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/persist"
)

// kindSession is the grain kind of sessions.
const kindSession = "session"

// Config configures a node.
type Config struct {
	// Host is this node's own host (required): the grains placed here
	// serve their calls with it.
	Host *host.Host
	// Store is the store the host runs on (required), shared by every
	// node: a PostgreSQL store.
	Store *persist.Store
	// Endpoints are the etcd endpoints, host:port (required).
	Endpoints []string
	// Addr is the host:port this node's cluster listener binds and the
	// other nodes reach it on (required).
	Addr string
	// Secret authenticates the calls between nodes (required, at least 32
	// bytes, the same on every node): the server's SESHAT_JWT_SECRET.
	Secret []byte
	// Name is the cluster's name: nodes of one name form one cluster. If
	// empty, "seshat".
	Name string
	// CallTimeout bounds one call to a session grain. If zero, 10s.
	CallTimeout time.Duration
	// RelayBuffer is how many events a stream relayed from another node
	// holds for a slow client before the stream is dropped (the client
	// re-attaches with Last-Event-ID). If zero, 4096.
	RelayBuffer int
	// Logger receives the node's logs; protoactor's go through it at
	// warning level and above. If nil, logs are discarded.
	Logger *slog.Logger
}

// Node is one node of a cluster and the runtime facade of the server: see
// the package comment.
type Node struct {
	*host.Host
	cfg    Config
	log    *slog.Logger
	sys    *actor.ActorSystem
	c      *cluster.Cluster
	closed atomic.Bool
	// stop ends the loop that re-arms jobs; loopDone is closed once it
	// has.
	stop     chan struct{}
	loopDone chan struct{}
}

// RearmInterval is how often a node arms the jobs made or changed on other
// nodes, and those of a node that died.
const RearmInterval = 5 * time.Second

// etcdProbeTimeout bounds the check that etcd answers before joining: the
// module's provider waits forever on an etcd that does not answer, and
// panics on one that fails.
const etcdProbeTimeout = 5 * time.Second

// Start joins the cluster: it checks that etcd answers, starts the node's
// listener and registers the node. It returns once the node serves grains
// (the module waits a second after registering).
func Start(cfg Config) (n *Node, err error) {
	if cfg.Host == nil || cfg.Store == nil {
		return nil, errors.New("cluster: Host and Store are required")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("cluster: Secret must be at least 32 bytes")
	}
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("cluster: no etcd endpoint")
	}
	hostName, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: node address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 || hostName == "" {
		return nil, fmt.Errorf("cluster: node address %q must be HOST:PORT with a port", cfg.Addr)
	}
	if cfg.Name == "" {
		cfg.Name = "seshat"
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.RelayBuffer <= 0 {
		cfg.RelayBuffer = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger.With("component", "cluster")
	etcdCfg := clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: etcdProbeTimeout}
	if err := probeEtcd(etcdCfg); err != nil {
		return nil, err
	}
	provider, err := etcd.NewWithConfig("/seshat", etcdCfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd client: %w", err)
	}
	actorLog := slog.New(host.MinLevel(cfg.Logger.With("component", "cluster-actors").Handler(), slog.LevelWarn))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }))
	n = &Node{Host: cfg.Host, cfg: cfg, log: log, sys: sys, stop: make(chan struct{}), loopDone: make(chan struct{})}
	kind := cluster.NewKind(kindSession, actor.PropsFromProducer(func() actor.Actor { return &grain{n: n} }))
	ccfg := cluster.Configure(cfg.Name, provider, disthash.New(),
		remote.Configure(hostName, port),
		cluster.WithKinds(kind), cluster.WithRequestTimeout(cfg.CallTimeout))
	n.c = cluster.New(sys, ccfg)
	// The module panics where it would return an error (a listener that
	// cannot bind, a provider that fails).
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cluster: join: %v", r)
			n = nil
		}
	}()
	n.c.StartMember()
	go n.rearmLoop()
	log.Info("joined the cluster", "name", cfg.Name, "addr", sys.Address(), "etcd", cfg.Endpoints)
	return n, nil
}

// probeEtcd checks that etcd answers within etcdProbeTimeout.
func probeEtcd(cfg clientv3.Config) error {
	cli, err := clientv3.New(cfg)
	if err != nil {
		return fmt.Errorf("cluster: etcd %v: %w", cfg.Endpoints, err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), etcdProbeTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, "/seshat/probe"); err != nil {
		return fmt.Errorf("cluster: etcd %v does not answer: %w", cfg.Endpoints, err)
	}
	return nil
}

// Addr returns the node's cluster address.
func (n *Node) Addr() string { return n.sys.Address() }

// Leave leaves the cluster: the node deregisters, so that its sessions
// move to the others, and its listener stops. It is idempotent. Call it
// before closing the host.
func (n *Node) Leave() {
	if !n.closed.CompareAndSwap(false, true) {
		return
	}
	close(n.stop)
	<-n.loopDone
	n.c.Shutdown(true)
}

// rearmLoop arms, every RearmInterval, the jobs this node's scheduler has
// no actor for: every node arms every enabled job, and the due run's
// record in the store (the lock) makes each due time run once, on the
// node that records it first. A job thus keeps firing when a node dies.
func (n *Node) rearmLoop() {
	defer close(n.loopDone)
	t := time.NewTicker(RearmInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CallTimeout)
			if k, err := n.Host.RearmJobs(ctx); err != nil {
				n.log.Warn("re-arm jobs", "err", err)
			} else if k > 0 {
				n.log.Info("armed jobs of other nodes", "jobs", k)
			}
			cancel()
		}
	}
}

// attemptTimeout bounds one attempt of a call to a grain; attemptPause
// separates attempts.
const (
	attemptTimeout = time.Second
	attemptPause   = 50 * time.Millisecond
)

// newCallID returns a fresh idempotency key.
func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ask sends c to session id's grain and returns its reply.
func (n *Node) ask(ctx context.Context, id string, c *call) (*reply, error) {
	if n.closed.Load() {
		return nil, agent.ErrClosed
	}
	if !agent.ValidID(agent.PrefixSession, id) {
		return nil, fmt.Errorf("%w: session %s", agent.ErrNotFound, id)
	}
	if c.ID == "" {
		c.ID = newCallID()
	}
	if err := c.sign(n.cfg.Secret); err != nil {
		return nil, err
	}
	msg, err := encode(c)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(n.cfg.CallTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	// Each attempt gets a short timeout and is retried until the call's
	// deadline: an attempt sent to a node that just died waits out its
	// whole timeout (the module's own retries each get the full one), and
	// the grain answers a repeated call id with its first answer.
	var res any
	for {
		left := time.Until(deadline)
		res, err = n.c.Request(id, kindSession, msg, cluster.WithTimeout(min(max(left, time.Millisecond), attemptTimeout)), cluster.WithRetryCount(1))
		if err == nil && res != nil {
			break
		}
		if err == nil {
			err = errors.New("no answer")
		}
		if time.Until(deadline) <= attemptPause || ctx.Err() != nil {
			return nil, fmt.Errorf("session %s did not answer: %w", id, err)
		}
		time.Sleep(attemptPause)
	}
	b, ok := res.(*wrapperspb.BytesValue)
	if !ok {
		return nil, fmt.Errorf("session %s: unexpected reply %T", id, res)
	}
	var r reply
	if err := decodeJSON(b.Value, &r); err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	if err := r.Err.err(); err != nil {
		return nil, err
	}
	return &r, nil
}
