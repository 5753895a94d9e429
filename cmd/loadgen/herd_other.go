//go:build !linux

package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
)

// startHerd fails: the agents of idle and broadcast are read with epoll,
// which only Linux has.
func startHerd(context.Context, *protocol, int, *idleState, *slog.Logger, agentHandler, *sync.WaitGroup) (func(int, *rawDial) error, error) {
	return nil, errors.New("idle and broadcast read their agents with epoll: they run on Linux only")
}
