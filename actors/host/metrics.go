package host

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/quota"
)

// metrics are the runtime's Prometheus series.
type metrics struct {
	sessionsActive     prometheus.Gauge
	streamsOpen        prometheus.GaugeFunc
	turnsRunning       prometheus.GaugeFunc
	turnsTotal         *prometheus.CounterVec
	turnDuration       prometheus.Histogram
	firstEvent         prometheus.Histogram
	subscribersDropped prometheus.Counter
	activations        prometheus.Counter
}

// newMetrics builds the series; the running turns and open streams are
// read from the ledger that owns them.
func newMetrics(reg prometheus.Registerer, q *quota.Ledger) (*metrics, error) {
	m := &metrics{
		sessionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seshat_sessions_active", Help: "Session actors in memory.",
		}),
		streamsOpen: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "seshat_streams_open", Help: "Open event streams (SSE clients).",
		}, q.OpenStreams),
		turnsRunning: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "seshat_turns_running", Help: "Turns in progress.",
		}, q.RunningTurns),
		turnsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_turns_total", Help: "Ended turns by stop reason (error for failed turns).",
		}, []string{"stop_reason"}),
		turnDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seshat_turn_duration_seconds", Help: "Wall time of a turn, start to durable end.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		firstEvent: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seshat_turn_first_event_seconds", Help: "Time from turn start to its first model or tool event.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 10),
		}),
		subscribersDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seshat_subscribers_dropped_total", Help: "Subscribers dropped for falling behind.",
		}),
		activations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seshat_session_activations_total", Help: "Session actors activated from the store.",
		}),
	}
	for _, stop := range []agent.StopReason{agent.StopEndTurn, agent.StopMaxTurns, agent.StopMaxTokens, agent.StopInterrupted, agent.StopToolUse, agent.StopError} {
		m.turnsTotal.WithLabelValues(string(stop))
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sessionsActive, m.streamsOpen, m.turnsRunning, m.turnsTotal, m.turnDuration, m.firstEvent, m.subscribersDropped, m.activations} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observer feeds session figures into the metrics and keeps the set of
// live sessions for shutdown.
type observer struct{ h *Host }

func (o observer) SessionActivated(id string) {
	o.h.metrics.sessionsActive.Inc()
	o.h.metrics.activations.Inc()
	o.h.mu.Lock()
	o.h.live[id] = struct{}{}
	o.h.mu.Unlock()
}

func (o observer) SessionStopped(id string) {
	o.h.metrics.sessionsActive.Dec()
	o.h.mu.Lock()
	delete(o.h.live, id)
	o.h.mu.Unlock()
}

func (o observer) TurnEnded(stop agent.StopReason, failed bool, d time.Duration) {
	if failed {
		stop = agent.StopError
	}
	o.h.metrics.turnsTotal.WithLabelValues(string(stop)).Inc()
	o.h.metrics.turnDuration.Observe(d.Seconds())
}

func (o observer) FirstEvent(d time.Duration) { o.h.metrics.firstEvent.Observe(d.Seconds()) }

func (o observer) SubscriberDropped() { o.h.metrics.subscribersDropped.Inc() }
