//go:build race && unix

package mp_test

// raceEnabled says whether the tests run under the race detector, which makes every task several
// times slower: tests that count on volume use less of it there.
const raceEnabled = true
