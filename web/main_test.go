package web_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	browsertest.Close()
	servertest.Cleanup()
	if code == 0 {
		// The tests' agents, proxies and stream readers end with their
		// tests; the shared browser's driver keeps a few goroutines of its
		// own until the process exits.
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/chromedp/chromedp.(*Browser).run")); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
