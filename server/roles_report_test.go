package server

import (
	"testing"
	"time"
)

// TestRoles_ViewerSeesReports: a viewer receives the nodes' reports
// (package cluster) but may not listen to their hand-over requests, nor
// send a report.
func TestRoles_ViewerSeesReports(t *testing.T) {
	s := mustRun(t, roleConfig(t))
	node := connectAs(t, s.url, "web", nodePassword)
	viewer := connectAs(t, s.url, "console", viewerPassword)
	reports, err := viewer.nc.SubscribeSync("kiln.kiln.cluster.report.*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.nc.SubscribeSync("kiln.kiln.lease.n1"); err != nil {
		t.Fatal(err)
	}
	viewer.wantDenied(t, "kiln.kiln.lease.n1")
	if err := viewer.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := node.nc.Publish("kiln.kiln.cluster.report.n1", []byte(`{"node":"n1"}`)); err != nil {
		t.Fatal(err)
	}
	if msg, err := reports.NextMsg(5 * time.Second); err != nil || string(msg.Data) != `{"node":"n1"}` {
		t.Fatalf("viewer: report not received: %v", err)
	}
	if err := viewer.nc.Publish("kiln.kiln.cluster.report.n1", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	viewer.wantDenied(t, "kiln.kiln.cluster.report.n1")
}
