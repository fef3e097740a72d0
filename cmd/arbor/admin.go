package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// maxAdminAnswerBytes bounds the body read from a member's admin API.
const maxAdminAnswerBytes = 1 << 20

// adminCall sends one request to the admin API of the member at addr (its
// client address) and returns the status code and the body, read up to
// maxAdminAnswerBytes. body may be nil; a non-nil one is sent as JSON.
func adminCall(ctx context.Context, method, addr, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswerBytes))
	return resp.StatusCode, b, err
}
