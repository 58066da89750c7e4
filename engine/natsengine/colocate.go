package natsengine

// Colocated reports whether one Commit can write both a and b: whether
// they fall in the same shard (engine.Colocator).
func (e *Engine) Colocated(a, b string) bool {
	n := len(e.shards)
	return shardIndex(a, n) == shardIndex(b, n)
}
