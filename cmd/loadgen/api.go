package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// apiFlags are the flags of the subcommands that use the REST API.
type apiFlags struct {
	url string
	key string
}

// register defines the flags on fs.
func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "api", "http://127.0.0.1:8848", "base URL of the node's REST API")
	fs.StringVar(&f.key, "key", "", "the node's API key, if it has one")
}

// apiTimeout bounds one REST request, answer included.
const apiTimeout = 10 * time.Second

// client returns an HTTP client for up to conns requests in flight at
// once: it keeps that many connections open between requests, and each
// request, answer included, is limited to apiTimeout.
func (f *apiFlags) client(conns int) *http.Client {
	return &http.Client{
		Timeout:   apiTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
	}
}

// post returns a request that POSTs the JSON body to path, with the API key
// when there is one.
func (f *apiFlags) post(ctx context.Context, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if f.key != "" {
		req.Header.Set("Authorization", "Bearer "+f.key)
	}
	return req, nil
}

// poster keeps POST /agents/{id}/<op> requests in flight from a number of
// workers, each sending its next request when the last is answered and
// addressing the agents in turn. Its fields are set before run and not
// changed after.
type poster struct {
	api    *apiFlags
	client *http.Client
	// ids are the agents addressed; worker w starts at ids[w].
	ids []string
	// op is the last element of the path: "call" or "events".
	op string
	// body returns the body of a request when it is about to be sent; it
	// is called from every worker at once.
	body func() []byte
	// want is the status of a successful answer.
	want int
	// rejected counts answers of any other status; errs counts requests
	// that got no answer.
	rejected, errs *failures
}

// run starts workers that send requests until window ends, waits for
// them, and returns the durations of their successful requests, one part
// per worker, and how long they ran. Each request runs under ctx rather
// than window, so that a request in flight when the window ends is
// answered and counted rather than cut off.
func (p *poster) run(ctx, window context.Context, workers int) ([]latencies, time.Duration) {
	parts := make([]latencies, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() { parts[w] = p.worker(ctx, window, w) })
	}
	wg.Wait()
	return parts, time.Since(start)
}

// worker sends requests one after another, starting with agent w, until
// window ends or a request cannot be made.
func (p *poster) worker(ctx, window context.Context, w int) latencies {
	var lat latencies
	for i := w; window.Err() == nil; i++ {
		req, err := p.api.post(ctx, "/agents/"+p.ids[i%len(p.ids)]+"/"+p.op, p.body())
		if err != nil {
			p.errs.add(err)
			return lat
		}
		sent := time.Now()
		res, err := p.client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				p.errs.add(err)
			}
			continue
		}
		answer, err := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case err != nil:
			p.errs.add(err)
		case res.StatusCode != p.want:
			p.rejected.add(fmt.Errorf("%s: %.200s", res.Status, answer))
		default:
			lat.add(time.Since(sent))
		}
	}
	return lat
}
