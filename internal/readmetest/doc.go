// Package readmetest checks the repository's README.md: its tests compile
// every Go snippet of the README and compare its options tables with the
// code. It has no code of its own.
//
// # Snippets
//
// Every ```go block of README.md is checked by one `go vet` over all of
// them, in a temporary module that uses this repository through a replace
// directive, and must be gofmt'd. A block that starts with a package
// clause is a whole file. Any other block is a function body; an HTML
// comment on the line before its fence names the function's signature,
//
//	<!-- snippet: func(ctx context.Context, s *realtime.Socket) error -->
//
// and without one it is func(). A body gets the imports it uses among the
// standard and vicinity packages known to the test (context, errors, fmt,
// http, json, log, slog, os, time; realtime, presence, spatial, transport,
// client), found as name.Exported. Errors name the README's lines.
package readmetest
