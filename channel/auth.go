package channel

// Rule allows subscribing to and/or publishing on the channels a pattern
// covers. Authenticated requires a principal (a logged-in session).
type Rule struct {
	Pattern       string
	Subscribe     bool
	Publish       bool
	Authenticated bool
}

// Rules is an Authorizer: a request is allowed if some rule whose pattern
// covers the channel (or the whole subscribed pattern) allows it; anything
// else is denied. Malformed rule patterns allow nothing.
type Rules []Rule

// CanSubscribe implements Authorizer.
func (r Rules) CanSubscribe(c Client, ch string) bool {
	return r.allows(c, ch, func(x Rule) bool { return x.Subscribe })
}

// CanPublish implements Authorizer.
func (r Rules) CanPublish(c Client, ch string) bool {
	return r.allows(c, ch, func(x Rule) bool { return x.Publish })
}

func (r Rules) allows(c Client, ch string, grants func(Rule) bool) bool {
	q, err := segments(ch, true)
	if err != nil {
		return false
	}
	for _, x := range r {
		if !grants(x) || (x.Authenticated && c.Principal == "") {
			continue
		}
		if p, err := segments(x.Pattern, true); err == nil && covers(p, q) {
			return true
		}
	}
	return false
}

// Funcs is an Authorizer of two functions; a nil one denies.
type Funcs struct {
	Subscribe func(c Client, ch string) bool
	Publish   func(c Client, ch string) bool
}

// CanSubscribe implements Authorizer.
func (f Funcs) CanSubscribe(c Client, ch string) bool {
	return f.Subscribe != nil && f.Subscribe(c, ch)
}

// CanPublish implements Authorizer.
func (f Funcs) CanPublish(c Client, ch string) bool { return f.Publish != nil && f.Publish(c, ch) }
