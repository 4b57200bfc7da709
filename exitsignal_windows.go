package mp

import "os"

// exitSignal reports false: a Windows process does not end by a signal.
func exitSignal(st *os.ProcessState) (string, bool) { return "", false }
