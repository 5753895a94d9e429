package web_test

import (
	"os"
	"testing"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	browsertest.Close()
	servertest.Cleanup()
	os.Exit(code)
}
