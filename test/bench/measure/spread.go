package measure

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Spread is the distribution of one ratio measured once per round: the median,
// the quartiles (nearest rank) and the extremes. A ratio of two phases run back to
// back in the same round cancels the slow drifts of a shared machine's load that
// a ratio of two medians taken over the whole run keeps.
type Spread struct {
	Median float64   `json:"median"`
	Q1     float64   `json:"q1"`
	Q3     float64   `json:"q3"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Rounds []float64 `json:"rounds"` // in round order
}

// NewSpread summarizes the per-round ratios rs (in round order); the zero Spread
// when rs is empty.
func NewSpread(rs []float64) Spread {
	if len(rs) == 0 {
		return Spread{}
	}
	s := slices.Sorted(slices.Values(rs))
	rank := func(p int) float64 { return s[max((len(s)*p+99)/100-1, 0)] }
	return Spread{Median: rank(50), Q1: rank(25), Q3: rank(75), Min: s[0], Max: s[len(s)-1], Rounds: slices.Clone(rs)}
}

// String is "1.013 (IQR 0.991–1.030, min 0.950, max 1.080, 10 rounds)".
func (s Spread) String() string {
	return fmt.Sprintf("%.3f (IQR %.3f–%.3f, min %.3f, max %.3f, %d rounds)", s.Median, s.Q1, s.Q3, s.Min, s.Max, len(s.Rounds))
}

// LoadAverage is the first three fields of /proc/loadavg ("3.46 1.46 0.56"), or
// "unknown" when it cannot be read.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if err != nil || len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
