//go:build unix

package main

import "syscall"

// raiseFileLimit raises the soft limit on open files to the hard limit:
// every connection and open stream holds a descriptor. It returns the
// limits in force afterwards.
func raiseFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return uint64(lim.Cur), uint64(lim.Max), err
		}
		lim = raised
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}
