package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// TestPprof: the profiles are served only when Config.Pprof asks for them.
func TestPprof(t *testing.T) {
	get := func(addr, path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	off := servertest.Start(t, server.Config{})
	if code, _ := get(off.Addr(), server.PprofPath); code != http.StatusNotFound {
		t.Errorf("without Pprof, GET %s = %d, want 404", server.PprofPath, code)
	}

	on := servertest.Start(t, server.Config{Pprof: true})
	code, body := get(on.Addr(), server.PprofPath)
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("with Pprof, GET %s = %d, body without the profile list:\n%.300s", server.PprofPath, code, body)
	}
	code, body = get(on.Addr(), server.PprofPath+"goroutine?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("with Pprof, the goroutine profile: %d\n%.300s", code, body)
	}
}
