//go:build !unix

package main

import "time"

// processCPU returns 0: this system does not tell.
func processCPU() time.Duration { return 0 }
