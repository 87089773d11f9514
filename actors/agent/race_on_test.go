//go:build race

package agent

// raceEnabled is true in a -race build, whose instrumentation allocates.
const raceEnabled = true
