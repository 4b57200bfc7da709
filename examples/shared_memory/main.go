// Command shared_memory shares a block of memory between processes, as Python's
// multiprocessing.shared_memory does: one process creates a block of memory under a name, another
// attaches to it by that name, both see the same bytes, each closes its mapping, and the creator
// unlinks the name. Run it and you see a child, given only the name, read what the main process
// wrote and write back; after Unlink, opening the name fails; then the same with an anonymous
// segment handed to the child in its argument.
//
// In Go:
//
//   - mp.CreateSharedMemory(name, size) creates /dev/shm/<name> (and fails if it exists);
//     mp.OpenSharedMemory(name, size) attaches to it from any process — here a child that gets
//     only the name; shm.Bytes() is the memory itself, not a copy; the creator calls Unlink once
//     no process needs to open it any more, after which opening the name fails. Only Unlink
//     removes the name: a process that opened the segment and exits does not (Python's resource
//     tracker unlinks a segment when any process that attached to it exits, bpo-38119).
//   - mp.CreateSharedMemory("", size) creates an anonymous segment with no name at all: nothing
//     to unlink and nothing that can leak in /dev/shm. It reaches a child as every mp handle does,
//     in the task's argument.
//
// Run it:
//
//	go run ./examples/shared_memory
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"

	"github.com/mp-go/mp"
)

const size = 64

// str returns the string at the start of b, up to its first NUL byte.
func str(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// put writes s at the start of b, NUL-terminated.
func put(b []byte, s string) {
	clear(b)
	copy(b, s)
}

// Attach opens the named segment, prints what it holds and writes a reply in it.
var Attach = mp.Register("shared_memory.attach", func(ctx context.Context, name string) (struct{}, error) {
	shm, err := mp.OpenSharedMemory(name, size) // shm_b = shared_memory.SharedMemory(name)
	if err != nil {
		return struct{}{}, err
	}
	defer shm.Close() // shm_b.close()
	fmt.Printf("child pid=%d: OpenSharedMemory(%q, %d) read %q\n", os.Getpid(), shm.Name(), shm.Size(), str(shm.Bytes()))
	put(shm.Bytes(), fmt.Sprintf("reply from pid %d", os.Getpid()))
	return struct{}{}, nil
})

// Use gets an anonymous segment in its argument, prints what it holds and writes a reply in it.
var Use = mp.Register("shared_memory.use", func(ctx context.Context, shm *mp.SharedMemory) (struct{}, error) {
	defer shm.Close()
	fmt.Printf("child pid=%d: got the segment in its argument: Name()=%q Size()=%d; read %q\n", os.Getpid(), shm.Name(), shm.Size(), str(shm.Bytes()))
	put(shm.Bytes(), fmt.Sprintf("reply from pid %d", os.Getpid()))
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	fmt.Println("== a named segment ==")
	name := fmt.Sprintf("mp-example-shared-memory-%d", os.Getpid())
	shm, err := mp.CreateSharedMemory(name, size) // shm_a = shared_memory.SharedMemory(create=True, size=64)
	check(err)
	fmt.Printf("main pid=%d: CreateSharedMemory: Name()=%q Size()=%d\n", os.Getpid(), shm.Name(), shm.Size())
	put(shm.Bytes(), fmt.Sprintf("hello from pid %d", os.Getpid()))
	_, err = mp.CreateSharedMemory(name, size)
	fmt.Printf("main: CreateSharedMemory of the same name again: %v (errors.Is(err, fs.ErrExist) = %t)\n", err, errors.Is(err, fs.ErrExist))
	_, err = mp.Run(ctx, Attach, name) // the child gets only the name
	check(err)
	fmt.Printf("main: read back %q\n", str(shm.Bytes()))
	again, err := mp.OpenSharedMemory(name, 0) // size 0: whatever size it has
	check(err)
	fmt.Printf("main: the child has closed it and exited; the name is still there: OpenSharedMemory(%q, 0) has Size()=%d\n", name, again.Size())
	check(again.Close())
	check(shm.Close())  // shm_a.close()
	check(shm.Unlink()) // shm_a.unlink()
	_, err = mp.OpenSharedMemory(name, size)
	fmt.Printf("main: after Unlink, OpenSharedMemory: %v (errors.Is(err, fs.ErrNotExist) = %t)\n", err, errors.Is(err, fs.ErrNotExist))

	fmt.Println("== an anonymous segment ==")
	anon, err := mp.CreateSharedMemory("", size)
	check(err)
	fmt.Printf("main: CreateSharedMemory(\"\", %d): Name()=%q\n", size, anon.Name())
	put(anon.Bytes(), fmt.Sprintf("hello from pid %d", os.Getpid()))
	_, err = mp.Run(ctx, Use, anon)
	check(err)
	fmt.Printf("main: read back %q\n", str(anon.Bytes()))
	check(anon.Close()) // nothing to unlink
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
