package kiln

// ReportHistogram is a histogram in a NodeReport, in seconds: Counts[i]
// observations were at most Bounds[i], cumulative since the node started,
// and the last of Counts (one more than Bounds) is all of them. Being
// cumulative, two reports of one run give the distribution between them
// (Sub). The zero value is a histogram no report carried (a node older
// than the field).
type ReportHistogram struct {
	Bounds []float64 `json:"le"`
	Counts []uint64  `json:"counts"`
	Sum    float64   `json:"sum"`
}

// reportHistogram is h in a report's form; hs of one bounds are merged.
func reportHistogram(hs ...Histogram) ReportHistogram {
	var out ReportHistogram
	for _, h := range hs {
		if out.Bounds == nil {
			out.Bounds = make([]float64, len(h.Bounds))
			for i, b := range h.Bounds {
				out.Bounds[i] = b.Seconds()
			}
			out.Counts = make([]uint64, len(h.Bounds)+1)
		}
		for i, c := range h.Counts {
			out.Counts[i] += c
		}
		out.Counts[len(h.Bounds)] += h.Count
		out.Sum += h.Sum.Seconds()
	}
	return out
}

// Total is how many observations h holds.
func (h ReportHistogram) Total() uint64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// valid says whether h is well formed: one more count than bounds, and
// cumulative.
func (h ReportHistogram) valid() bool {
	if len(h.Counts) != len(h.Bounds)+1 {
		return false
	}
	for i := 1; i < len(h.Counts); i++ {
		if h.Counts[i] < h.Counts[i-1] {
			return false
		}
	}
	return true
}

// Sub is h − prev: the observations between two reports of one run of a
// node. ok is false if either is malformed, their bounds differ or a
// count went down (prev is of another run).
func (h ReportHistogram) Sub(prev ReportHistogram) (d ReportHistogram, ok bool) {
	if !h.valid() || !prev.valid() || !sameBounds(h.Bounds, prev.Bounds) {
		return ReportHistogram{}, false
	}
	d = ReportHistogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts)), Sum: max(h.Sum-prev.Sum, 0)}
	for i := range h.Counts {
		if h.Counts[i] < prev.Counts[i] {
			return ReportHistogram{}, false
		}
		d.Counts[i] = h.Counts[i] - prev.Counts[i]
	}
	return d, true
}

// Add is h + o, the observations of both (two nodes' over one interval).
// ok is false if o is malformed or its bounds differ; the zero h takes o.
func (h ReportHistogram) Add(o ReportHistogram) (sum ReportHistogram, ok bool) {
	if !o.valid() {
		return h, false
	}
	if h.Counts == nil {
		h = ReportHistogram{Bounds: o.Bounds, Counts: make([]uint64, len(o.Counts))}
	}
	if !h.valid() || !sameBounds(h.Bounds, o.Bounds) {
		return h, false
	}
	sum = ReportHistogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts)), Sum: h.Sum + o.Sum}
	for i := range h.Counts {
		sum.Counts[i] = h.Counts[i] + o.Counts[i]
	}
	return sum, true
}

// Quantile estimates the q-quantile (0 < q ≤ 1) in seconds as
// Prometheus' histogram_quantile does: linearly within the bucket that
// holds it, from 0 in the first. Past the last bound it is the last bound
// (a lower bound of the truth). 0 if h is empty or malformed.
func (h ReportHistogram) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 || !h.valid() || len(h.Bounds) == 0 {
		return 0
	}
	rank := q * float64(total)
	below, lower := 0.0, 0.0
	for i, b := range h.Bounds {
		c := float64(h.Counts[i])
		if c >= rank && c > below {
			return lower + (b-lower)*(rank-below)/(c-below)
		}
		below, lower = c, b
	}
	return h.Bounds[len(h.Bounds)-1]
}

// MaxBound is the upper bound of the highest bucket that holds an
// observation, in seconds: the largest observation is at most this. Past
// the last bound it is the last bound (then the largest is more). 0 if h
// is empty or malformed.
func (h ReportHistogram) MaxBound() float64 {
	if h.Total() == 0 || !h.valid() || len(h.Bounds) == 0 {
		return 0
	}
	for i, b := range h.Bounds {
		if h.Counts[i] == h.Total() {
			return b
		}
	}
	return h.Bounds[len(h.Bounds)-1]
}

func sameBounds(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
