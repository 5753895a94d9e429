//go:build !linux

package main

// noFlagsChild is only run by TestNoFlags, which needs Linux namespaces.
func noFlagsChild(string) int { return 2 }
