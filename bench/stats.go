//go:build unix

package bench

import (
	"math"
	"slices"
)

// Summary condenses the samples of one measurement.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize returns the summary of samples: the median (the mean of the two middle samples when
// there is an even number), the 90th percentile (nearest rank), the minimum and the maximum. It
// returns the zero Summary for no samples.
func Summarize(samples []float64) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	rank := int(math.Ceil(0.9*float64(n))) - 1
	return Summary{N: n, Median: med, P90: s[max(rank, 0)], Min: s[0], Max: s[n-1]}
}
