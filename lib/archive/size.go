package archive

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads an archive size: a plain number is GiB (as archiveSize in
// the image set configuration); KiB, MiB, GiB and TiB suffixes are accepted.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}}
	mult := float64(1 << 30)
	num := strings.TrimSpace(s)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(num, u.suffix))
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%q is not a size; fix: write a number of GiB (4) or a number with KiB, MiB, GiB or TiB", s)
	}
	return int64(f * mult), nil
}
