//go:build unix

package mp

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/shm"
	"golang.org/x/sys/unix"
)

// processAlive reports whether process pid exists and has not exited (a zombie has). It knows
// the pid only (the owner file records no more): a segment whose creator's pid was reused looks
// owned, so it is not listed as leaked.
func processAlive(pid int) bool { return procid.Alive(procid.Make(pid, 0)) }

// ownerPrefix names the file beside a named segment that records its creator's pid, so that
// LeakedSharedMemory can tell the segments of dead programs.
const ownerPrefix = ".mp-owner."

// shmDir is where named segments live.
func shmDir() string {
	if runtime.GOOS == "linux" {
		return "/dev/shm"
	}
	return filepath.Join(os.TempDir(), "mp-shm")
}

func createNamed(name string, size int) (*shm.Segment, error) {
	dir := shmDir()
	if runtime.GOOS != "linux" {
		os.MkdirAll(dir, 0o700)
	}
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: path, Err: err}
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		unix.Unlink(path)
		return nil, os.NewSyscallError("ftruncate", err)
	}
	seg, err := shm.Map(fd)
	if err != nil {
		unix.Unlink(path)
		return nil, err
	}
	os.WriteFile(filepath.Join(dir, ownerPrefix+name), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	return seg, nil
}

func openNamed(name string) (*shm.Segment, error) {
	path := filepath.Join(shmDir(), name)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return shm.Map(fd)
}

// RemoveSharedMemory unlinks the named segment (Python's unlink), whoever made it: use it for the
// segments LeakedSharedMemory finds. Processes that have it mapped keep it until they close it.
func RemoveSharedMemory(name string) error {
	n, err := shmName(name)
	if err != nil {
		return err
	}
	dir := shmDir()
	os.Remove(filepath.Join(dir, ownerPrefix+n))
	if err := os.Remove(filepath.Join(dir, n)); err != nil {
		return err
	}
	return nil
}

// LeakedSharedMemory returns the names of the named segments made by mp in processes that have
// exited without unlinking them (a crash, or a missing Unlink). Remove them with
// RemoveSharedMemory.
func LeakedSharedMemory() ([]string, error) {
	dir := shmDir()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), ownerPrefix)
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			os.Remove(filepath.Join(dir, e.Name())) // the segment is gone already
			continue
		}
		names = append(names, name)
	}
	return names, nil
}
