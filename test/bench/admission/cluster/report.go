package cluster

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
)

// Report runs a benchmark program's measurement until it ends or the process
// is interrupted, then prints the result to standard output: indented JSON when
// asJSON, else through text. The program's main reports the error and exits.
func Report[R any](asJSON bool, run func(context.Context) (R, error), text func(R)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx)
	if err != nil {
		return err
	}
	if !asJSON {
		text(res)
		return nil
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
