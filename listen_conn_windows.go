//go:build windows

package mp

// spinIO has no way around waiting on Windows.
func spinIO(s Stream) (tryRead, tryWrite func([]byte) (int, bool, error)) { return nil, nil }

func yield() {}
