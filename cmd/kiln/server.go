package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errNotBuilt is the answer of commands that are planned but not built.
var errNotBuilt = errors.New("not built yet")

var serverCommand = command{
	name:    "server",
	summary: "run the kiln server (not built yet)",
	run: func(context.Context, []string, io.Writer) error {
		return fmt.Errorf("%w: the standalone server (NATS JetStream + console) comes with a later issue; "+
			"for now, 'kiln demo' embeds one", errNotBuilt)
	},
}
