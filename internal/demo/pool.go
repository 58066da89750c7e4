package demo

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/kilnhq/kiln"
)

// pool chooses the node a request goes to.
type pool struct {
	sticky bool
	cookie string         // the session cookie's name
	urls   []*url.URL     // the nodes' base URLs, in order
	names  []string       // the nodes' names, in order
	byName map[string]int // node name -> index in urls
	byHost map[string]int // node host:port -> index in urls
	next   atomic.Uint64  // round robin position
}

func newPool(nodes []*node, sticky bool) *pool {
	p := &pool{
		sticky: sticky,
		cookie: kiln.DefaultConfig().Cookie.Name,
		byName: make(map[string]int, len(nodes)),
		byHost: make(map[string]int, len(nodes)),
	}
	for i, n := range nodes {
		u, _ := url.Parse(n.url) // made by startWebServer: always valid
		p.urls, p.names = append(p.urls, u), append(p.names, n.name)
		p.byName[n.name], p.byHost[u.Host] = i, i
	}
	return p
}

// pick returns the node for r: with stickiness the one its session ID
// names, else the next in turn.
func (p *pool) pick(r *http.Request) *url.URL {
	if i, ok := p.owner(r); ok && p.sticky {
		return p.urls[i]
	}
	i := p.next.Add(1) - 1
	return p.urls[i%uint64(len(p.urls))]
}

// owner returns the index of the node named by the suffix of r's session
// ID: the cookie's value after its last '.'.
func (p *pool) owner(r *http.Request) (int, bool) {
	c, err := r.Cookie(p.cookie)
	if err != nil {
		return 0, false
	}
	dot := strings.LastIndexByte(c.Value, '.')
	if dot < 0 {
		return 0, false
	}
	i, ok := p.byName[c.Value[dot+1:]]
	return i, ok
}

// after returns the other nodes, in turn from the one at host: where a
// request goes when that node does not answer.
func (p *pool) after(host string) []*url.URL {
	start, ok := p.byHost[host]
	if !ok {
		return nil
	}
	var out []*url.URL
	for k := 1; k < len(p.urls); k++ {
		out = append(out, p.urls[(start+k)%len(p.urls)])
	}
	return out
}

// nameOf returns the name of the node at host ("" if none).
func (p *pool) nameOf(host string) string {
	if i, ok := p.byHost[host]; ok {
		return p.names[i]
	}
	return ""
}
