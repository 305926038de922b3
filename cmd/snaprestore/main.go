// Command snaprestore is the one binary of the project: the admission webhook
// and the Longhorn backup restore engine behind a cobra command tree.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ec exitCoder
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "snaprestore:", msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "snaprestore:", err)
		os.Exit(1)
	}
}

// exitCoder is implemented by errors that ask for a specific exit status
// (validate uses 1 for a denial and 2 for unreadable input).
type exitCoder interface {
	error
	ExitCode() int
}

// exitError carries an exit status; an empty message prints nothing more,
// for commands that already reported what went wrong.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }
