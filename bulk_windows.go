package mp

import "errors"

// readBulk is not supported on Windows, where no bulk value is sent.
func readBulk(fd int, dst []byte) error {
	return errors.New("a bulk value: no shared memory segments on this platform")
}

// checkBulkSize is not supported on Windows, where no bulk value is sent.
func checkBulkSize(fd, size int) error {
	return errors.New("a bulk value: no shared memory segments on this platform")
}
