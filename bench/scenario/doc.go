// Package scenario is the load bench's driver and its scenarios. It
// talks to the host only through its public HTTP API, as a client would:
//
//   - baseline: the bare fasthttp server of package baseline, measured in
//     the same run with the same client and request, so that throughput
//     figures can be given as a ratio to it;
//   - query: non-streaming POST /api/v1/query turns, closed loop at
//     several concurrencies and open loop at a fixed rate;
//   - messages: the same for POST /v1/messages (Anthropic Messages API),
//     plus streamed calls;
//   - streams: a ramp of held SSE streams with the server's memory and
//     goroutines read at each plateau, and batches of streams started
//     together (time to first byte and first event, gaps, lost events);
//   - reattach: clients that drop mid-stream and re-attach with
//     Last-Event-ID, counting lost and repeated events;
//   - idle: memory per active and per passivated session, and
//     re-activation latency;
//   - restore: a restart over stored sessions: time to listen, to a first
//     answer, and first requests to cold sessions.
//
// # Measurement rules
//
//   - Open loops have no coordinated omission: request i is due at
//     start + i/rate, whether or not earlier ones were answered, and its
//     latency counts from when it was due.
//   - Every window starts after a warm-up, and the server's CPU time
//     (from /proc/PID/stat, or process_cpu_seconds_total for a host the
//     bench did not start) is read at the window's edges.
//   - Memory per held stream or session is the slope between two measured
//     levels, never a total divided by a count, so fixed costs stay out.
//   - Every loop is bounded in requests and in time; every connection
//     has a deadline.
//   - Load goes to loopback addresses only. Connections rotate over
//     source addresses 127.0.0.2 and up, so that tens of thousands of them
//     stay under the ephemeral port limit of one address.
//
// Load connections use a minimal HTTP/1.1 client (Client, Conn) so that
// the bench's own CPU per request stays small; setup and metrics use
// net/http.
//
// # Concurrency
//
// A Suite runs one scenario at a time; each scenario owns the goroutines
// it starts and waits for them before it returns. A spawned server is
// stopped (SIGTERM, then SIGKILL after a minute) when its scenario ends,
// and is killed by the kernel if the bench dies first (Linux).
//
// The package imports compat/anthropic, compat/eventstream, http/apitype,
// bench/report and the standard library: nothing of the server's
// runtime.
package scenario
