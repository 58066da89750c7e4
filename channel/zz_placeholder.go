package channel

// PLACEHOLDER until chweb merges chcore's Hub: deleted then.

import "context"

type Subscription struct{ c chan Publication }

func (s *Subscription) C() <-chan Publication { return s.c }
func (s *Subscription) Err() error            { return nil }
func (s *Subscription) Close()                {}
func (s *Subscription) Recovered() bool       { return false }

type Hub struct{}

func (h *Hub) Subscribe(ctx context.Context, c Client, pattern string, since *Position) (*Subscription, error) {
	return nil, ErrClosed
}
func (h *Hub) PublishAs(ctx context.Context, c Client, ch string, data []byte, opts ...PublishOption) (Publication, error) {
	return Publication{}, ErrClosed
}
