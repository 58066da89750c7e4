package server

import (
	"fmt"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Roles of auth.users. docs/security.md says what each may and may not do.
const (
	// RoleNode is a web node: it reads and writes the session bucket's
	// keys, runs the JetStream calls the engine needs on the bucket's
	// streams (stream info, gets, consumers for listing and expiry) and
	// kiln's messaging subjects; it cannot create, update, purge or delete
	// a stream, nor publish or subscribe anywhere else.
	//
	// For kiln/channel it may also publish to the bucket's channel stream
	// (kilnch.<bucket>.in.>), receive what the stream republishes
	// (kilnch.<bucket>.out.>, subscribe only: a node cannot forge a
	// delivered publication), send and receive logout broadcasts
	// (kilnch.<bucket>.ctl), read the stream and the presence bucket, write
	// presence entries, and create (only create) those two streams.
	RoleNode = "node"
	// RoleAdmin may do everything: operators, their tools, the console.
	RoleAdmin = "admin"
	// RoleViewer reads: stream info, gets and read-only consumers on the
	// session bucket's streams, and the nodes' reports (package cluster);
	// it cannot write a key or send on kiln's messaging subjects.
	RoleViewer = "viewer"
)

// validRole reports whether r names a role ("" is the legacy full form).
func validRole(r string) bool { return r == RoleNode || r == RoleAdmin || r == RoleViewer || r == "" }

// permissions are role's NATS permissions on the session bucket; nil
// (everything) for RoleAdmin and the legacy "".
func permissions(role, bucket string) *natsserver.Permissions {
	switch role {
	case RoleNode:
		return nodePermissions(bucket)
	case RoleViewer:
		return viewerPermissions(bucket)
	}
	return nil
}

// streamBuckets are the buckets a session bucket may be stored in: the
// bucket itself (one shard) or "<bucket>-0".."<bucket>-<MaxShards-1>".
// NATS wildcards match whole tokens, so each is listed.
func streamBuckets(bucket string) []string {
	bs := []string{bucket}
	for i := range MaxShards {
		bs = append(bs, fmt.Sprintf("%s-%d", bucket, i))
	}
	return bs
}

// nodeAPI are the JetStream API calls of a web node on a stream s, as
// subject suffixes after "$JS.API.".
var nodeAPI = []string{
	"STREAM.INFO.%s",
	"STREAM.MSG.GET.%s",
	"DIRECT.GET.%s", "DIRECT.GET.%s.>",
	"CONSUMER.CREATE.%s", "CONSUMER.CREATE.%s.>",
	"CONSUMER.DURABLE.CREATE.%s.>",
	"CONSUMER.INFO.%s.>",
	"CONSUMER.MSG.NEXT.%s.>",
	"CONSUMER.DELETE.%s.>",
}

// viewerAPI are the calls of a viewer: reads, and the consumers that
// list and watch keys; not deleting a consumer (the expiry consumers are
// the nodes').
var viewerAPI = []string{
	"STREAM.INFO.%s",
	"STREAM.MSG.GET.%s",
	"DIRECT.GET.%s", "DIRECT.GET.%s.>",
	"CONSUMER.CREATE.%s", "CONSUMER.CREATE.%s.>",
	"CONSUMER.INFO.%s.>",
	"CONSUMER.MSG.NEXT.%s.>",
}

func nodePermissions(bucket string) *natsserver.Permissions {
	pub := []string{"$JS.API.INFO", msgSubjects(bucket), "_INBOX.>"}
	for _, b := range streamBuckets(bucket) {
		s := "KV_" + b
		pub = append(pub, "$KV."+b+".>", "$JS.ACK."+s+".>", "$JS.FC."+s+".>")
		pub = append(pub, apiSubjects(nodeAPI, s)...)
	}
	chPub, chSub := channelPermissions(bucket)
	return &natsserver.Permissions{
		Publish:   &natsserver.SubjectPermission{Allow: append(pub, chPub...)},
		Subscribe: &natsserver.SubjectPermission{Allow: append([]string{msgSubjects(bucket), watchSubjects(bucket), "_INBOX.>"}, chSub...)},
	}
}

// channelPermissions are what a kiln/channel Hub of bucket needs on top
// of the engine's: its stream KILNCH_<bucket> and presence bucket
// KILNCH_PRESENCE_<bucket> (create, read, consumers for history reads and
// presence listings; never update, purge or delete), the subjects the
// stream stores, and the logout broadcast.
func channelPermissions(bucket string) (pub, sub []string) {
	stream, presence := "KILNCH_"+bucket, "KV_KILNCH_PRESENCE_"+bucket
	ctl := "kilnch." + bucket + ".ctl"
	pub = []string{"kilnch." + bucket + ".in.>", ctl, "$KV.KILNCH_PRESENCE_" + bucket + ".>", "$JS.FC." + presence + ".>"}
	for _, s := range []string{stream, presence} {
		pub = append(pub, "$JS.API.STREAM.CREATE."+s)
		pub = append(pub, apiSubjects(nodeAPI, s)...)
	}
	return pub, []string{"kilnch." + bucket + ".out.>", ctl}
}

func viewerPermissions(bucket string) *natsserver.Permissions {
	pub := []string{"$JS.API.INFO"}
	sub := []string{watchSubjects(bucket), reportSubjects(bucket), "_INBOX.>"}
	for _, b := range streamBuckets(bucket) {
		s := "KV_" + b
		pub = append(pub, "$JS.FC."+s+".>")
		pub = append(pub, apiSubjects(viewerAPI, s)...)
		sub = append(sub, "$KV."+b+".>")
	}
	return &natsserver.Permissions{
		Publish:   &natsserver.SubjectPermission{Allow: pub},
		Subscribe: &natsserver.SubjectPermission{Allow: sub},
	}
}

// msgSubjects are kiln's messaging subjects of bucket (see natsengine's
// Publish): leases and hand-overs.
func msgSubjects(bucket string) string { return "kiln." + bucket + ".>" }

// reportSubjects are the messaging subjects on which the web nodes
// publish their reports (internal/keys.ReportPattern): a viewer may
// listen, not send.
func reportSubjects(bucket string) string { return "kiln." + bucket + ".cluster.report.*" }

// watchSubjects are where the bucket's streams republish every change,
// for Watch: subscribe only (a publish there would forge an event).
func watchSubjects(bucket string) string { return "kilnwatch." + bucket + ".>" }

func apiSubjects(api []string, stream string) []string {
	out := make([]string, 0, len(api))
	for _, a := range api {
		out = append(out, "$JS.API."+fmt.Sprintf(a, stream))
	}
	return out
}

// NodePermissions are the node role's NATS permissions on bucket: what a
// web node needs and nothing more. For servers started outside kiln server
// (kiln demo) that give their web nodes the same role.
func NodePermissions(bucket string) *natsserver.Permissions { return nodePermissions(bucket) }
