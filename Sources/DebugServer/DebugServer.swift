// The debug HTTP server: socket loop, HTTP/1.1, HTTP/2, pprof routes. See DESIGN.md.
