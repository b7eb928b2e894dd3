package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// A live pipeline works in short bursts (a frame every 33 ms, audio every
// 10 or 20 ms) and idles in between. On a KVM guest an idle vCPU halts,
// the host deschedules it, and the work after each wake-up runs measurably
// slower (what does not fit the core's own cache is gone: pace.go measures
// it): the same gst-launch composite costs ~20 % more CPU paced to real
// time than free-running when the guest halts at once, and about the same
// when it polls instead. How the guest idles is therefore part of what a
// figure means, and the bench prints it; -halt-poll sets it for one run, as
// an operator would.

const (
	cpuidleDriverFile = "/sys/devices/system/cpu/cpuidle/current_driver"
	haltPollFile      = "/sys/module/haltpoll/parameters/guest_halt_poll_ns"
)

// machineLine is the header's description of the machine.
func machineLine() string {
	return fmt.Sprintf("%s, %s; idle: %s; load average at start %s", cpuInfo(), runtime.GOOS+"/"+runtime.GOARCH,
		idlePolicy(cpuidleDriverFile, haltPollFile), loadAvg())
}

// idlePolicy describes how the CPUs idle: the cpuidle driver and, for the
// KVM guest's haltpoll driver, how long it polls before halting.
func idlePolicy(driverFile, pollFile string) string {
	driver, err := cpuidleDriver(driverFile)
	if err != nil || driver == "" || driver == "none" {
		return "no cpuidle driver"
	}
	if driver != "haltpoll" {
		return "cpuidle " + driver
	}
	ns, err := readHaltPoll(pollFile)
	if err != nil {
		return "cpuidle haltpoll (poll time unknown)"
	}
	if ns == 0 {
		return "cpuidle haltpoll, halts at once (guest_halt_poll_ns=0)"
	}
	return fmt.Sprintf("cpuidle haltpoll, polls up to %s before halting", time.Duration(ns))
}

func cpuidleDriver(file string) (string, error) {
	b, err := os.ReadFile(file)
	return strings.TrimSpace(string(b)), err
}

func readHaltPoll(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", file, strings.TrimSpace(string(b)))
	}
	return ns, nil
}

// setHaltPoll makes the guest poll up to d before halting an idle CPU and
// returns the function that puts the previous value back.
func setHaltPoll(driverFile, pollFile string, d time.Duration) (restore func() error, err error) {
	if driver, err := cpuidleDriver(driverFile); err != nil || driver != "haltpoll" {
		if err == nil {
			err = fmt.Errorf("the cpuidle driver is %q", driver)
		}
		return nil, fmt.Errorf("-halt-poll needs a KVM guest idling with the haltpoll driver: %w", err)
	}
	old, err := readHaltPoll(pollFile)
	if err != nil {
		return nil, fmt.Errorf("-halt-poll: %w", err)
	}
	write := func(ns int64) error {
		if err := os.WriteFile(pollFile, []byte(strconv.FormatInt(ns, 10)), 0); err != nil {
			if errors.Is(err, os.ErrPermission) {
				return fmt.Errorf("-halt-poll: %w (it takes root)", err)
			}
			return fmt.Errorf("-halt-poll: %w", err)
		}
		return nil
	}
	if err := write(d.Nanoseconds()); err != nil {
		return nil, err
	}
	return func() error { return write(old) }, nil
}

// haltPollUsage is the -halt-poll flag's help; a negative value (the
// default) leaves the machine as it is.
const haltPollUsage = "on a KVM guest with the haltpoll cpuidle driver, poll up to this long before halting an idle CPU during the bench, then restore the old value (needs root; negative: leave as is)"

// withHaltPoll applies -halt-poll (when d ≥ 0) and returns the function that
// undoes it, reporting a failure to restore on log.
func withHaltPoll(d time.Duration, log io.Writer) (undo func(), err error) {
	if d < 0 {
		return func() {}, nil
	}
	restore, err := setHaltPoll(cpuidleDriverFile, haltPollFile, d)
	if err != nil {
		return nil, err
	}
	return func() {
		if err := restore(); err != nil {
			fmt.Fprintf(log, "bench: could not restore %s: %v\n", haltPollFile, err)
		}
	}, nil
}
