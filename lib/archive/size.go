package archive

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ocm-mirror/ocm/lib/config"
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

// Setup reads ocm-pack's options before any work, so that bad ones are bad
// input: the history of OutDir (a damaged one), the largest archive file
// (size, as --archive-size, else the archiveSize of the configuration at
// cfgPath, else no limit) and since (YYYY-MM-DD, local time).
func (p *Packer) Setup(size, cfgPath, since string) (err error) {
	if _, err := LoadHistory(p.OutDir); err != nil {
		return err
	}
	if p.MaxSize, err = maxSize(size, cfgPath); err != nil {
		return err
	}
	p.Since, err = parseSince(since)
	return err
}

func maxSize(flag, cfgPath string) (int64, error) {
	if flag != "" {
		n, err := ParseSize(flag)
		if err != nil {
			return 0, fmt.Errorf("--archive-size: %w", err)
		}
		return n, nil
	}
	if cfgPath == "" {
		return 0, nil
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return 0, err
	}
	return int64(cfg.ArchiveSize) << 30, nil
}

func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, time.Local)
	if err != nil {
		return t, fmt.Errorf("--since %q: want a date like 2026-01-31", s)
	}
	return t, nil
}
