package adapter_test

import (
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// The conformance kit over the in-process bus, counting nodes both ways.
func TestClusterConformanceBusNumSub(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		return adapter.NewCluster(adapter.NewBus(), adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second})
	})
}

func TestClusterConformanceBusHeartbeat(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		return adapter.NewCluster(adapter.NewBus().WithoutCounting(), adapter.ClusterConfig{
			Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond,
		})
	})
}
