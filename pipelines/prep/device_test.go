package prep

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/kernels/cuda"
)

// TestTeacherBackendSelection checks --device: "" and cpu are the CPU reference, auto always
// yields a working backend (the GPU or, without one, the CPU), cuda fails with the reason where
// no GPU works, and a misspelt device is an error that lists the choices.
func TestTeacherBackendSelection(t *testing.T) {
	for _, dev := range []string{"", "cpu"} {
		d, err := teacherBackend(dev, 1)
		if err != nil {
			t.Fatalf("device %q: %v", dev, err)
		}
		if _, ok := d.Backend.(*cpu.Backend); !ok || d.Threads != 1 {
			t.Fatalf("device %q: got %s (%T), want the CPU backend on 1 thread", dev, d.Reason, d.Backend)
		}
	}
	d, err := teacherBackend("auto", 1)
	if err != nil || d == nil {
		t.Fatalf("device auto must always give a backend, got %v, %v", d, err)
	}
	defer d.Close()
	if g, gpuErr := cuda.Open(cuda.Options{}); gpuErr == nil {
		g.Close()
		t.Logf("a GPU works here: auto chose %s", d.Reason)
	} else {
		if d.Kind != kernels.KindCPU || d.Threads != 1 {
			t.Fatalf("auto without a GPU (%v) must fall back to the CPU on 1 thread, got %s", gpuErr, d.Reason)
		}
		if _, err := teacherBackend("cuda", 1); err == nil || !strings.Contains(err.Error(), "--device=auto") {
			t.Fatalf("device cuda without a GPU must fail and point at --device=auto, got %v", err)
		}
	}
	if _, err := teacherBackend("tpu", 1); err == nil || !strings.Contains(err.Error(), "cpu") {
		t.Fatalf("an unknown device must be an error listing the choices, got %v", err)
	}
}

// TestAutoDeviceRunHonoursThreads is issue 13's bug seen from a whole run: --device auto on a
// machine without a GPU ran the teacher on every core although --threads asked for one. Every
// teacher the run loaded must be on the CPU with one thread, and none of its operations may
// have run on more than one goroutine.
func TestAutoDeviceRunHonoursThreads(t *testing.T) {
	t.Setenv(cuda.EnvLibDir, t.TempDir()) // no GPU, whatever this machine has
	root, entries := subset(t)
	var good []truth
	for _, e := range entries {
		if e.Expect == "ok" && len(good) < 2 {
			good = append(good, e)
		}
	}
	cfg := tinyConfig(t, writeManifest(t, good), root, filepath.Join(t.TempDir(), "ds"))
	cfg.Device, cfg.Workers = "auto", 1

	teachers.mu.Lock()
	teachers.free = nil // only this run's teachers from here on
	teachers.mu.Unlock()
	rep, err := prepareRun(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK == 0 {
		t.Fatalf("the run wrote no clip: %s", rep.Summary())
	}
	teachers.mu.Lock()
	defer teachers.mu.Unlock()
	n := 0
	for _, ts := range teachers.free {
		for _, pt := range ts {
			n++
			c, ok := pt.dev.Backend.(*cpu.Backend)
			if !ok || pt.dev.Threads != 1 || c.Threads() != 1 {
				t.Errorf("a teacher ran on %s, want the CPU with 1 thread", pt.dev.Reason)
				continue
			}
			if w := c.MaxParallel(); w != 1 {
				t.Errorf("a teacher's operations ran on up to %d goroutines with --threads 1", w)
			}
		}
	}
	if n == 0 {
		t.Fatal("the run left no teacher in the pool to check")
	}
}
