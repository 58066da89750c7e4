package kiln

// LeasesBeingFreed returns how many evicted sessions' leases m is still
// writing free (in the background, after the eviction).
func LeasesBeingFreed(m *Manager) int { return m.leases.Freeing() }
