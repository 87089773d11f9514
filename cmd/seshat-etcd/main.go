// Command seshat-etcd runs a single-member etcd in process, on loopback,
// for the cluster tests and benchmarks: it stands in for an etcd cluster
// where none is installed. It prints "ready <client URL>" on stdout once
// etcd serves, and stops on SIGINT or SIGTERM.
//
//	seshat-etcd -dir /tmp/etcd -client 127.0.0.1:2379 -peer 127.0.0.1:2380
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seshat-etcd:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "data directory (required)")
	client := flag.String("client", "127.0.0.1:2379", "client listen address")
	peer := flag.String("peer", "127.0.0.1:2380", "peer listen address")
	flag.Parse()
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	cfg := embed.NewConfig()
	cfg.Dir = *dir
	cfg.Name = "seshat-etcd"
	cfg.LogLevel = "error"
	cu, err := url.Parse("http://" + *client)
	if err != nil {
		return err
	}
	pu, err := url.Parse("http://" + *peer)
	if err != nil {
		return err
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Server.Stop()
		return fmt.Errorf("etcd did not become ready in 30s")
	}
	fmt.Println("ready", cu.String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-e.Err():
		return err
	}
	return nil
}
