package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIdlePolicy(t *testing.T) {
	dir := t.TempDir()
	driver, poll := filepath.Join(dir, "current_driver"), filepath.Join(dir, "guest_halt_poll_ns")
	if got := idlePolicy(driver, poll); got != "no cpuidle driver" {
		t.Errorf("without a driver file: %q", got)
	}
	for _, c := range []struct{ driver, poll, want string }{
		{"intel_idle\n", "", "cpuidle intel_idle"},
		{"haltpoll\n", "0\n", "cpuidle haltpoll, halts at once (guest_halt_poll_ns=0)"},
		{"haltpoll\n", "200000\n", "cpuidle haltpoll, polls up to 200µs before halting"},
		{"haltpoll\n", "many\n", "cpuidle haltpoll (poll time unknown)"},
	} {
		writeFile(t, driver, c.driver)
		writeFile(t, poll, c.poll)
		if got := idlePolicy(driver, poll); got != c.want {
			t.Errorf("driver %q, poll %q: %q, want %q", c.driver, c.poll, got, c.want)
		}
	}
}

func TestSetHaltPollRestores(t *testing.T) {
	dir := t.TempDir()
	driver, poll := filepath.Join(dir, "current_driver"), filepath.Join(dir, "guest_halt_poll_ns")
	writeFile(t, driver, "haltpoll\n")
	writeFile(t, poll, "0\n")
	restore, err := setHaltPoll(driver, poll, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if ns, err := readHaltPoll(poll); err != nil || ns != 50_000_000 {
		t.Fatalf("while set: %d, %v; want 50000000", ns, err)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if ns, err := readHaltPoll(poll); err != nil || ns != 0 {
		t.Fatalf("restored: %d, %v; want 0", ns, err)
	}

	writeFile(t, driver, "acpi_idle\n")
	if _, err := setHaltPoll(driver, poll, time.Millisecond); err == nil || !strings.Contains(err.Error(), `"acpi_idle"`) {
		t.Errorf("with acpi_idle: %v, want an error naming the driver", err)
	}
	if ns, _ := readHaltPoll(poll); ns != 0 {
		t.Errorf("a refused -halt-poll wrote %d", ns)
	}
}
