package persist_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a Store leaves a goroutine behind after Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
