package echoapp_test

import (
	"testing"

	"github.com/kilnhq/kiln/examples/frameworks/echoapp"
	"github.com/kilnhq/kiln/examples/frameworks/internal/flowtest"
)

func TestEcho(t *testing.T) { flowtest.Run(t, echoapp.New) }
