package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/seshat-host/seshat/actors/cluster"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/http/grpcapi"
	"github.com/seshat-host/seshat/http/httpapi"
	"github.com/seshat-host/seshat/persist"
)

// runtimeFacade is what the HTTP and gRPC handlers call: the single-node
// *host.Host, or a *cluster.Node with SESHAT_CLUSTER.
type runtimeFacade interface {
	httpapi.Runtime
	grpcapi.Sessions
	grpcapi.Turns
	grpcapi.Permissions
	grpcapi.Jobs
}

var (
	_ runtimeFacade   = (*host.Host)(nil)
	_ runtimeFacade   = (*cluster.Node)(nil)
	_ host.JobRuntime = (*cluster.Node)(nil)
)

// clusterEndpoints parses SESHAT_CLUSTER's etcd://HOST:PORT[,…].
func clusterEndpoints(s string) ([]string, error) {
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok {
		return nil, fmt.Errorf("SESHAT_CLUSTER=%q: want etcd://HOST:PORT[,HOST:PORT…]", s)
	}
	var eps []string
	for _, ep := range strings.Split(strings.TrimRight(rest, "/"), ",") {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return nil, fmt.Errorf("SESHAT_CLUSTER=%q: etcd endpoint %q is not HOST:PORT", s, ep)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// validateCluster checks the cluster settings: a cluster shares one
// PostgreSQL store and needs the node's address.
func validateCluster(cfg Config) []error {
	if cfg.Cluster == "" {
		if cfg.NodeAddr != "" {
			return []error{errors.New("SESHAT_NODE_ADDR is set without SESHAT_CLUSTER")}
		}
		return nil
	}
	var bad []error
	if _, err := clusterEndpoints(cfg.Cluster); err != nil {
		bad = append(bad, err)
	}
	if !strings.HasPrefix(cfg.Store, "postgres://") && !strings.HasPrefix(cfg.Store, "postgresql://") {
		bad = append(bad, errors.New("SESHAT_CLUSTER needs SESHAT_STORE=postgres://…: the nodes share one PostgreSQL store (the embedded bolt file is one process's)"))
	}
	if cfg.JWTSecret == nil {
		bad = append(bad, errors.New("SESHAT_CLUSTER needs SESHAT_JWT_SECRET, the same on every node: it signs the tokens every node accepts and the calls between nodes"))
	}
	if _, _, err := net.SplitHostPort(cfg.NodeAddr); err != nil {
		bad = append(bad, fmt.Errorf("SESHAT_CLUSTER needs SESHAT_NODE_ADDR=HOST:PORT, the address other nodes reach this one on (got %q)", cfg.NodeAddr))
	}
	return bad
}

// runtimeFor returns the host itself, or with SESHAT_CLUSTER the node it
// joins the cluster as.
func runtimeFor(cfg Config, store *persist.Store, hst *host.Host, log *slog.Logger) (runtimeFacade, *cluster.Node, error) {
	if cfg.Cluster == "" {
		return hst, nil, nil
	}
	eps, err := clusterEndpoints(cfg.Cluster)
	if err != nil {
		return nil, nil, err
	}
	node, err := cluster.Start(cluster.Config{Host: hst, Store: store, Endpoints: eps, Addr: cfg.NodeAddr, Secret: cfg.JWTSecret, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return node, node, nil
}

// leaveCluster leaves the cluster, if the server joined one, so that its
// sessions move to the other nodes before the host closes.
func (f *families) leaveCluster(context.Context) {
	if f.cluster != nil {
		f.cluster.Leave()
	}
}

// jobRuntime is what starts the scheduler's turns: the host, or the
// cluster node, through which a run's session is reached wherever it
// runs.
func (f *families) jobRuntime(hst *host.Host) host.JobRuntime {
	if f.cluster != nil {
		return f.cluster
	}
	return hst
}
