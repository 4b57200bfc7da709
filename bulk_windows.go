package mp

import "errors"

// mapBulk is not supported on Windows, where no bulk value is sent.
func mapBulk(fd, size int) ([]byte, func(), error) {
	return nil, nil, errors.New("a bulk value: no shared memory segments on this platform")
}
