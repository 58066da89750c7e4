package main

import "context"

func runGrowth(ctx context.Context, systems []*system, e env, o options) string { return "" }
