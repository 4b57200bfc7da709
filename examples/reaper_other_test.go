//go:build !linux

package examples_test

import "time"

// becomeSubreaper does nothing: only Linux has subreapers.
func becomeSubreaper() error { return nil }

// reapOrphans cannot see orphans without a subreaper; it reports none.
func reapOrphans(timeout time.Duration) []string { return nil }
