package channel_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/kilnhq/kiln/channel"
)

func TestHub_CrossNodeInOrder(t *testing.T) {
	hubs, _ := clusterHubs(t, nil)
	subs := []*channel.Subscription{
		mustSubscribe(t, hubs[1], client("bob"), "/chat/room1", nil),
		mustSubscribe(t, hubs[2], client("carol"), "/chat/room1", nil),
		mustSubscribe(t, hubs[0], client("alice"), "/chat/room1", nil),
	}
	var want []string
	var offsets []uint64
	for i := range 50 {
		want = append(want, fmt.Sprint("m", i))
		offsets = append(offsets, mustPublish(t, hubs[i%3], "/chat/room1", want[i]).Offset)
	}
	for _, s := range subs {
		got := receive(t, s, 50)
		if !slices.Equal(data(got), want) {
			t.Fatalf("%s got %q, want %q", s.Pattern(), data(got), want)
		}
		for i, p := range got {
			if p.Offset != offsets[i] || p.Channel != "/chat/room1" || p.Epoch != hubs[0].Epoch() {
				t.Fatalf("publication %d: %+v, want offset %d", i, p, offsets[i])
			}
			if i > 0 && p.Prev != got[i-1].Offset {
				t.Fatalf("publication %d: prev %d, want %d", i, p.Prev, got[i-1].Offset)
			}
		}
	}
}
