//go:build !unix

package caddysse

// openFileLimit is 0, unknown: this system has no RLIMIT_NOFILE, so there
// is no stream ceiling.
func openFileLimit() uint64 { return 0 }
