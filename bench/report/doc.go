// Package report is the arithmetic and the output of the load bench:
// percentiles of latency samples, throughput, slopes between two
// measured levels, and the three forms a run is written in — a text
// table for the terminal, a JSON document for machines and an SVG chart
// for people.
//
// Percentiles use the nearest-rank method on the full, sorted sample set:
// the p-th percentile of n samples is the sample of rank ceil(p/100·n),
// so every figure reported is a latency that was actually observed, and
// the 100th percentile is the maximum. No sample is dropped or bucketed.
//
// A Recorder is safe for concurrent use. The other types are plain data,
// built by one goroutine.
//
// The package imports only the standard library: it knows nothing of the
// server or of HTTP.
package report
