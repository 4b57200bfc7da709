//go:build linux || darwin

package procid

// fold makes a nonzero 32-bit stamp of a start time.
func fold(t uint64) uint32 {
	s := uint32(t) ^ uint32(t>>32)
	if s == 0 {
		s = 1
	}
	return s
}
