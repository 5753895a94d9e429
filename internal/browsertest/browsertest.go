// Package browsertest drives a real headless Chromium for the web UI's
// tests, through the DevTools protocol (chromedp: a maintained, pure-Go
// driver that needs no downloaded browser and no WebDriver server, and
// whose every call takes a context, so a stuck page fails the test at its
// deadline).
//
// One browser serves every test of a test binary; each test gets its own
// tab in its own browser context (no shared storage). Anything a page
// writes to the console at error level, and any uncaught exception, fails
// the test; on a failure the tab's screenshot and console are kept.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// ArtifactsEnv names the directory where a failed test's screenshot and
// console log are saved; default $TMPDIR/hotpot-browser-failures.
const ArtifactsEnv = "HOTPOT_BROWSER_ARTIFACTS"

// Timeout bounds every action a test runs in a tab.
const Timeout = 30 * time.Second

var (
	startOnce     sync.Once
	browserCtx    context.Context
	stopBrowser   context.CancelFunc
	browserErr    error
	userDataDir   string
	browserBinary string
)

// findChromium returns the browser to drive: $HOTPOT_CHROMIUM, or the
// first of the usual names on $PATH.
func findChromium() (string, error) {
	if p := os.Getenv("HOTPOT_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (install the chromium package, or set HOTPOT_CHROMIUM)")
}

// start starts the shared browser.
func start() {
	browserBinary, browserErr = findChromium()
	if browserErr != nil {
		return
	}
	userDataDir, browserErr = os.MkdirTemp("", "hotpot-chromium")
	if browserErr != nil {
		return
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browserBinary),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1280, 800),
		// Nothing but the nodes under test: the machine's network is closed.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		// Timers of a tab in the background must run: tests use several tabs.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	stopBrowser = func() { cancelBrowser(); cancelAlloc() }
	// The browser lives as long as the context of its first action.
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		browserErr = fmt.Errorf("starting %s: %w", browserBinary, err)
		stopBrowser()
		return
	}
	browserCtx = ctx
}

// Close stops the shared browser; TestMain calls it after the tests.
func Close() {
	if stopBrowser != nil {
		stopBrowser()
	}
	if userDataDir != "" {
		os.RemoveAll(userDataDir)
	}
}

// Tab is one browser tab of a test.
type Tab struct {
	t   testing.TB
	ctx context.Context

	mu      sync.Mutex
	console []string
	allowed []*regexp.Regexp
}

// NewTab opens a tab, closed when the test ends. With no browser
// installed the test is skipped, except where $CI is set: there it fails.
func NewTab(t testing.TB) *Tab {
	t.Helper()
	startOnce.Do(start)
	if browserErr != nil {
		if os.Getenv("CI") == "" {
			t.Skip(browserErr)
		}
		t.Fatal(browserErr)
	}
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	tab := &Tab{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.record(m)
		}
	}()
	if err := chromedp.Do(ctx); err != nil { // opens the tab, for as long as ctx lives
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	t.Cleanup(func() {
		tab.checkConsole()
		if t.Failed() {
			tab.keepArtifacts()
		}
		cancel()
		<-consoleDone
	})
	return tab
}

// record keeps one console message.
func (tab *Tab) record(m chromedp.ConsoleMessage) {
	line := fmt.Sprintf("%s %s", m.Time.Format("15:04:05.000"), m.String())
	if m.URL != "" {
		line += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
	}
	if m.Exception != nil && m.Stack != nil {
		for _, f := range m.Stack.CallFrames {
			line += fmt.Sprintf("\n    at %s (%s:%d)", f.FunctionName, f.URL, f.LineNumber+1)
		}
	}
	tab.mu.Lock()
	tab.console = append(tab.console, string(m.Type)+"\t"+line)
	tab.mu.Unlock()
}

// AllowConsoleError lets console errors matching pattern pass: for a test
// that breaks a connection on purpose, where the browser logs the failure.
func (tab *Tab) AllowConsoleError(pattern string) {
	tab.mu.Lock()
	tab.allowed = append(tab.allowed, regexp.MustCompile(pattern))
	tab.mu.Unlock()
}

// checkConsole fails the test for every error or exception the tab wrote,
// but those allowed.
func (tab *Tab) checkConsole() {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	for _, line := range tab.console {
		kind, text, _ := strings.Cut(line, "\t")
		if kind != string(chromedp.ConsoleError) && kind != string(chromedp.ConsoleException) {
			continue
		}
		allowed := false
		for _, re := range tab.allowed {
			allowed = allowed || re.MatchString(text)
		}
		if !allowed {
			tab.t.Errorf("the page wrote to the console: %s", text)
		}
	}
}

// keepArtifacts saves the tab's screenshot and console log.
func (tab *Tab) keepArtifacts() {
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hotpot-browser-failures")
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(tab.t.Name(), "_")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tab.t.Logf("keeping the screenshot: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(tab.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		path := filepath.Join(dir, name+".png")
		if os.WriteFile(path, png, 0o644) == nil {
			tab.t.Logf("screenshot: %s", path)
		}
	}
	tab.mu.Lock()
	log := strings.Join(tab.console, "\n")
	tab.mu.Unlock()
	path := filepath.Join(dir, name+".console.log")
	if os.WriteFile(path, []byte(log+"\n"), 0o644) == nil {
		tab.t.Logf("console (%s):\n%s", path, log)
	}
}

// deadline returns the tab's context bounded by Timeout, and its cancel.
func (tab *Tab) deadline() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tab.ctx, Timeout)
}

// Context returns the tab's context, for chromedp calls the helpers here do
// not cover.
func (tab *Tab) Context() context.Context { return tab.ctx }

// Do runs actions in the tab, failing the test on an error.
func (tab *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := tab.deadline()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("in the browser: %v", err)
	}
}

// Navigate opens url and waits for it to load.
func (tab *Tab) Navigate(url string) {
	tab.t.Helper()
	tab.Do(chromedp.Navigate(url))
}

// Eval evaluates a JavaScript expression in the page, awaiting it if it is
// a promise, and returns its value decoded as JSON into a T.
func Eval[T any](tab *Tab, expression string) T {
	tab.t.Helper()
	ctx, cancel := tab.deadline()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.t.Fatalf("evaluating %s: %v", expression, err)
	}
	return v
}

// WaitFor polls the JavaScript condition until it is true, failing the test
// with what if it is not within Timeout.
func (tab *Tab) WaitFor(condition, what string) {
	tab.t.Helper()
	ctx, cancel := tab.deadline()
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](condition, chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		tab.t.Fatalf("waiting for %s (%s): %v", what, condition, err)
	}
}

// SetColorScheme makes the page see prefers-color-scheme as "light" or
// "dark".
func (tab *Tab) SetColorScheme(scheme string) {
	tab.t.Helper()
	tab.Do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// Screenshot saves the visible part of the page as a PNG file.
func (tab *Tab) Screenshot(path string) {
	tab.t.Helper()
	ctx, cancel := tab.deadline()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tab.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tab.t.Fatal(err)
	}
}
