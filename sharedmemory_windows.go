package mp

import "github.com/mp-go/mp/internal/shm"

const ownerPrefix = ".mp-owner."

func createNamed(name string, size int) (*shm.Segment, error) { return nil, ErrNotSupported }

func openNamed(name string) (*shm.Segment, error) { return nil, ErrNotSupported }

// RemoveSharedMemory is not supported on Windows.
func RemoveSharedMemory(name string) error { return ErrNotSupported }

// LeakedSharedMemory is not supported on Windows.
func LeakedSharedMemory() ([]string, error) { return nil, ErrNotSupported }
