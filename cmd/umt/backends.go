package main

// The compute backends kernels.Open chooses from for --device: the CPU (always) and the GPU
// (loaded at run time where a driver is present).
import (
	_ "github.com/umt-dev/umt/kernels/cpu"
	_ "github.com/umt-dev/umt/kernels/cuda"
)
