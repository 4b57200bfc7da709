package shm

import "golang.org/x/sys/unix"

// adviseHuge asks for huge pages on a large mapping: where the system allows them for shared
// memory (transparent_hugepage/shmem_enabled "advise" or "within_size"), a first read of the
// segment then takes one fault per 2 MiB instead of one per 4 KiB (or per fault-around block),
// which is what bounds a fresh mapping's read bandwidth. Elsewhere it does nothing.
func adviseHuge(mem []byte) {
	if len(mem) >= 4<<20 {
		unix.Madvise(mem, unix.MADV_HUGEPAGE)
	}
}
