package ctl

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrLowDisk: the recordings' filesystem has less free space than
// Config.MinFreeDisk; new recordings are refused (507) rather than started
// to fail within minutes.
var ErrLowDisk = errors.New("not enough free disk space for a new recording")

// diskFree is the space available to the server under dir, in bytes.
func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// disk is the free space on the data directory's filesystem, and whether
// it is below Config.MinFreeDisk (never with no minimum set).
func (s *Server) disk() (free int64, low bool, err error) {
	free, err = diskFree(s.cfg.DataDir)
	return free, err == nil && s.cfg.MinFreeDisk > 0 && free < s.cfg.MinFreeDisk, err
}

// checkDiskForRecording refuses a new recording when the data directory's
// filesystem is below Config.MinFreeDisk. A filesystem that cannot be
// measured does not block recordings (the files say soon enough).
func (s *Server) checkDiskForRecording() error {
	if s.cfg.MinFreeDisk <= 0 {
		return nil
	}
	free, low, err := s.disk()
	if err != nil {
		s.log.Warn("free disk space unknown", "error", err)
		return nil
	}
	if low {
		return fmt.Errorf("%w: %s has %d MiB free, below the %d MiB kept free (--min-free-mb)", ErrLowDisk,
			s.cfg.DataDir, free>>20, s.cfg.MinFreeDisk>>20)
	}
	return nil
}
