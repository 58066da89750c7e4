package memengine

import (
	"context"
	"fmt"

	"github.com/kilnhq/kiln/engine"
)

// msgSub is one Subscribe subscription as the store sees it.
type msgSub struct {
	client  *Engine
	subject string // a pattern: '*' and '>' work as in NATS
	queue   string
	box     *mailbox[*engine.Msg]
}

// Publish sends data to every subscriber of subject; see engine.Messenger.
func (e *Engine) Publish(ctx context.Context, subject string, data []byte) error {
	if err := e.enter(ctx); err != nil {
		return err
	}
	if err := engine.CheckKey(subject); err != nil {
		return err
	}
	e.st.route(subject, func(*msgSub) *engine.Msg {
		return engine.NewMsg(subject, cloneValue(data), nil)
	})
	return nil
}

// Subscribe calls fn for each message on subject, which may hold NATS
// wildcards; with a queue, each message goes to one member of the queue.
func (e *Engine) Subscribe(subject, queue string, fn func(*engine.Msg)) (engine.Subscription, error) {
	if err := e.enter(context.Background()); err != nil {
		return nil, err
	}
	if err := engine.CheckPattern(subject); err != nil {
		return nil, err
	}
	if queue != "" {
		if err := checkName("queue", queue); err != nil {
			return nil, err
		}
	}
	m := &msgSub{client: e, subject: subject, queue: queue, box: startMailbox(fn)}
	sub := newSubscription(e, func() {
		e.st.removeMsgSub(m)
		m.box.stop()
	})
	if err := e.track(sub, func() { e.st.addMsgSub(m) }); err != nil {
		m.box.stop()
		return nil, err
	}
	return sub, nil
}

// Request sends data and waits for the first reply; see engine.Messenger.
func (e *Engine) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := e.enter(ctx); err != nil {
		return nil, err
	}
	if err := engine.CheckKey(subject); err != nil {
		return nil, err
	}
	reply := make(chan []byte, 1)
	outage := e.st.outageChan()
	n := e.st.route(subject, func(m *msgSub) *engine.Msg {
		return engine.NewMsg(subject, cloneValue(data), m.client.responder(reply))
	})
	if n == 0 {
		return nil, fmt.Errorf("request %s: %w", subject, engine.ErrNoResponders)
	}
	select {
	case data := <-reply:
		return data, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("request %s: %w: %w", subject, engine.ErrUnavailable, ctx.Err())
	case <-e.done:
		return nil, fmt.Errorf("request %s: %w", subject, engine.ErrClosed)
	case <-outage:
		return nil, fmt.Errorf("request %s: store down: %w", subject, engine.ErrUnavailable)
	}
}

// responder returns the respond func of a request delivered to e: the
// first answer wins, later ones are dropped.
func (e *Engine) responder(reply chan<- []byte) func([]byte) error {
	return func(data []byte) error {
		if err := e.enter(context.Background()); err != nil {
			return err
		}
		select {
		case reply <- cloneValue(data):
		default:
		}
		return nil
	}
}

func (s *store) addMsgSub(m *msgSub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgSubs = append(s.msgSubs, m)
}

func (s *store) removeMsgSub(m *msgSub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.msgSubs {
		if x == m {
			s.msgSubs = append(s.msgSubs[:i], s.msgSubs[i+1:]...)
			return
		}
	}
}

// route delivers a message built by mk to every plain subscriber of
// subject and to one member of each queue group. It returns how many
// subscribers got it.
func (s *store) route(subject string, mk func(*msgSub) *engine.Msg) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	queues := map[string][]*msgSub{}
	n := 0
	for _, m := range s.msgSubs {
		switch {
		case !engine.Match(m.subject, subject):
		case m.queue == "":
			m.box.push(mk(m))
			n++
		default:
			q := m.subject + " " + m.queue
			queues[q] = append(queues[q], m)
		}
	}
	for q, members := range queues {
		m := members[s.queueNext[q]%len(members)]
		s.queueNext[q]++
		m.box.push(mk(m))
		n++
	}
	return n
}
