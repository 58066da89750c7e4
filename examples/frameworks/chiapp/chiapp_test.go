package chiapp_test

import (
	"testing"

	"github.com/kilnhq/kiln/examples/frameworks/chiapp"
	"github.com/kilnhq/kiln/examples/frameworks/internal/flowtest"
)

func TestChi(t *testing.T) { flowtest.Run(t, chiapp.New) }
