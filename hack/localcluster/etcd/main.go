// Command etcd-runner starts a single-member etcd on 127.0.0.1 through the
// go.etcd.io/etcd/server/v3/embed package, prints "etcd ready" once the server
// can serve requests, and shuts down cleanly on SIGTERM or SIGINT.
//
// It exists so the local control plane (hack/localcluster/cluster.sh) needs no
// prebuilt etcd release binary; it lives in its own Go module so its etcd, gRPC and
// OpenTelemetry versions stay independent of the kube-apiserver build.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func loopbackURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
}

func main() {
	dataDir := flag.String("data-dir", "", "directory for etcd data (required)")
	clientPort := flag.Int("client-port", 2379, "client port on 127.0.0.1")
	peerPort := flag.Int("peer-port", 2380, "peer port on 127.0.0.1")
	name := flag.String("name", "localcluster", "member name")
	logLevel := flag.String("log-level", "warn", "etcd log level (debug, info, warn, error)")
	noFsync := flag.Bool("unsafe-no-fsync", false, "skip fsync (faster; data may be lost on a machine crash — fine for throwaway test clusters)")
	readyTimeout := flag.Duration("ready-timeout", 60*time.Second, "give up if etcd is not ready within this time")
	flag.Parse()

	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "etcd-runner: --data-dir is required")
		os.Exit(2)
	}

	client := loopbackURL(*clientPort)
	peer := loopbackURL(*peerPort)

	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", *name, peer.String())
	cfg.LogLevel = *logLevel
	cfg.UnsafeNoFsync = *noFsync

	// Register for signals before starting so an early SIGTERM is not lost.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd-runner: start: %v\n", err)
		os.Exit(1)
	}

	select {
	case <-e.Server.ReadyNotify():
		fmt.Printf("etcd ready (client %s, peer %s, data %s)\n", client.String(), peer.String(), *dataDir)
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "etcd-runner: failed before ready: %v\n", err)
		e.Close()
		os.Exit(1)
	case sig := <-sigs:
		fmt.Printf("etcd-runner: %v before ready, stopping\n", sig)
		e.Close()
		return
	case <-time.After(*readyTimeout):
		fmt.Fprintf(os.Stderr, "etcd-runner: not ready after %v\n", *readyTimeout)
		e.Server.Stop()
		e.Close()
		os.Exit(1)
	}

	select {
	case sig := <-sigs:
		fmt.Printf("etcd-runner: %v, stopping\n", sig)
		e.Close()
		fmt.Println("etcd-runner: stopped")
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "etcd-runner: %v\n", err)
		e.Close()
		os.Exit(1)
	}
}
