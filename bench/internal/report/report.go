// Package report holds the small formatting helpers the benchmark programs
// share when they print their tables.
package report

import (
	"math"
	"os"
	"strconv"
	"strings"
)

// LoadAvg is /proc/loadavg's 1, 5 and 15-minute load: how busy the shared
// machine was ("unknown" where it cannot be read).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Met is "met" when a target is met and "**not met**" otherwise.
func Met(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// Comma formats x with no decimals and thousands separators ("—" for NaN).
func Comma(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
