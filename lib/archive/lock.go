package archive

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile, in the archive directory, is held (flock) by the ocm-pack
// writing into it, and names that pack's PID for the message a second one
// gets.
const LockFile = ".ocm-pack.lock"

// ErrBusy: another ocm-pack is writing into the archive directory.
var ErrBusy = errors.New("archive directory in use")

// lockDir takes the archive directory for this process, or fails at once
// with ErrBusy. Failing beats waiting: two packs into one directory are a
// mistake (what the second would pack depends on which ran first), and a
// wait could last as long as the first pack, hours, with no word of why.
// The kernel drops the lock if the pack dies, even by SIGKILL.
func lockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("archive directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("archive directory %s: locking: %w", dir, err)
		}
		holder := "another process"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		return nil, fmt.Errorf("%w: %s is in use by another ocm-pack (%s); fix: let that pack finish, then rerun this one (it packs what the first did not), or pack into another --out", ErrBusy, dir, holder)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		// The file stays: removing it would let a third pack lock a new
		// file while a second still waits on the old one.
		f.Close()
	}, nil
}
