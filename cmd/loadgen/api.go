package main

import (
	"bytes"
	"context"
	"flag"
	"net/http"
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
