package shm

// CreateAnon is not supported on Windows.
func CreateAnon(name string, size int) (*Segment, error) { return nil, ErrNotSupported }

// Map is not supported on Windows.
func Map(fd int) (*Segment, error) { return nil, ErrNotSupported }

// Close does nothing on Windows.
func (s *Segment) Close() error { return nil }

// Dup is not supported on Windows.
func (s *Segment) Dup() (int, error) { return -1, ErrNotSupported }

// CloseFD does nothing on Windows.
func (s *Segment) CloseFD() {}
