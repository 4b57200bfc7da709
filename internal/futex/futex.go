// Package futex waits on and wakes 32-bit words in memory shared between processes.
//
// On Linux these are futexes (the shared, not process-private, kind, so that a word in a
// MAP_SHARED mapping can be waited on from several processes). Elsewhere Wait polls the word with
// a growing sleep, up to a millisecond: correct, and slower to wake.
package futex
