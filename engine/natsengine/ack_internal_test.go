package natsengine

import (
	"encoding/json"
	"testing"
)

var ackCases = []string{
	`{"stream":"KV_kiln","seq":1}`,
	`{"stream":"KV_kiln-3","seq":18446744073709551615}`,
	`{"stream":"KV_kiln","seq":18446744073709551616}`,
	`{"stream":"KV_kiln","seq":0}`,
	`{"stream":"KV_kiln","seq":012}`,
	`{"stream":"KV_kiln","seq":}`,
	`{"stream":"","seq":5}`,
	`{"stream":"KV_kiln","domain":"hub","seq":7}`,
	`{"stream":"KV_kiln","seq":7,"duplicate":true}`,
	`{"stream":"KV_kiln","seq":9,"batch":"b","count":3}`,
	`{"stream":"K\"V","seq":4}`,
	`{"stream":"K\\V","seq":4}`,
	`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}`,
	`{"stream":"KV_kiln","seq":4}x`,
	`{"stream":"KV_kiln","seq":-4}`,
	`{"stream":"KV_kiln","seq":+4}`,
	``,
}

// TestPlainAck: the fast path agrees with encoding/json on every ack it
// takes, and takes the server's plain acks.
func TestPlainAck(t *testing.T) {
	for _, data := range ackCases {
		checkPlainAck(t, []byte(data))
	}
	for _, data := range []string{`{"stream":"KV_kiln","seq":1}`, `{"stream":"KV_kiln-3","seq":18446744073709551615}`} {
		if _, ok := plainAck([]byte(data)); !ok {
			t.Errorf("plainAck(%s) not ok, want the fast path", data)
		}
	}
}

func FuzzPlainAck(f *testing.F) {
	for _, c := range ackCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkPlainAck(t, data) })
}

func checkPlainAck(t *testing.T, data []byte) {
	t.Helper()
	fast, ok := plainAck(data)
	if !ok {
		return
	}
	var want pubAck
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("plainAck(%q) took what encoding/json refuses: %v", data, err)
	}
	if fast.Stream != want.Stream || fast.Seq != want.Seq || want.Error != nil || want.Batch != "" || want.Count != 0 || want.Seq == 0 {
		t.Fatalf("plainAck(%q) = %+v, encoding/json reads %+v", data, *fast, want)
	}
}

// BenchmarkParseAck: a plain ack through parseAck, and through
// encoding/json alone (what parseAck did before plainAck).
func BenchmarkParseAck(b *testing.B) {
	data := []byte(`{"stream":"KV_kiln","seq":123456789}`)
	b.Run("parseAck", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseAck(data, "", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			var ack pubAck
			if err := json.Unmarshal(data, &ack); err != nil {
				b.Fatal(err)
			}
		}
	})
}
