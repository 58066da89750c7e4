package ginapp_test

import (
	"testing"

	"github.com/kilnhq/kiln/examples/frameworks/ginapp"
	"github.com/kilnhq/kiln/examples/frameworks/internal/flowtest"
)

func TestGin(t *testing.T) { flowtest.Run(t, ginapp.New) }
