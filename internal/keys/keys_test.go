package keys

import "testing"

func TestKeys_Scheme(t *testing.T) {
	const k = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, tc := range []struct{ got, want string }{
		{Meta(k), "s." + k + ".m"},
		{Attr(k, "cart", 7, "tg"), "s." + k + ".a.Y2FydA.7-tg"},
		{Attr(k, "cart", 7, ""), "s." + k + ".a.Y2FydA.7"},
		{Touch(k), "t." + k},
		{SessionOfTouch(Touch(k)), k},
		{Lease(k), "l." + k},
		{Liveness("n1"), "n.n1"},
		{Principal("h", k), "p.h." + k},
		{PrincipalPattern("h"), "p.h.*"},
		{Revoke("n1"), "lease.n1"},
		{Report("n1"), "cluster.report.n1"},
		{NodeOfLiveness(Liveness("n1")), "n1"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if !IsAttr(Attr(k, "x", 1, "t")) || IsAttr(Meta(k)) || !IsPrincipal(Principal("h", k)) {
		t.Error("IsAttr / IsPrincipal misclassify")
	}
}
