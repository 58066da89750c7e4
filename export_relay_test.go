package kiln

import "net/http"

// SetRelayTransport replaces the transport of m's relay hop (tests inject
// faults with it). m must have Config.RelayURL set.
func SetRelayTransport(m *Manager, rt http.RoundTripper) { m.relay.hop.rt = rt }

// RelayTransport returns the transport of m's relay hop.
func RelayTransport(m *Manager) http.RoundTripper { return m.relay.hop.rt }

// RelayStdTransport returns the http.Transport m's relay hop sends requests
// with a body through.
func RelayStdTransport(m *Manager) http.RoundTripper { return m.relay.hop.rt.(*hopConns).next }
