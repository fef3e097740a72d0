package server

import (
	"net/http"
	"net/http/pprof"
)

// PprofPath is where Config.Pprof serves the profiles: PprofPath itself
// lists them, PprofPath+"profile?seconds=N" takes a CPU profile,
// PprofPath+"trace?seconds=N" an execution trace, and PprofPath+NAME
// (heap, goroutine, mutex, block, allocs, ...) the others.
const PprofPath = "/debug/pprof/"

// registerPprof adds the profile handlers to mux. They are registered by
// hand, not through net/http/pprof's side effect on http.DefaultServeMux,
// which arbor does not serve.
func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc(PprofPath, pprof.Index)
	mux.HandleFunc(PprofPath+"cmdline", pprof.Cmdline)
	mux.HandleFunc(PprofPath+"profile", pprof.Profile)
	mux.HandleFunc(PprofPath+"symbol", pprof.Symbol)
	mux.HandleFunc(PprofPath+"trace", pprof.Trace)
}
