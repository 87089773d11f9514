//go:build !linux

package mcpconn

// waitExited reports that it cannot wait for an exit without reaping.
func waitExited(int) bool { return false }
