package constraints

// streamerSet is the streamers of compute tile t: docs/program-format.md
// gives streamer s to tile s / (streamers / tiles), so tile t owns the
// contiguous block {t*per, ..., t*per+per-1} (per = streamers / tiles), or
// streamer t mod streamers when there are fewer streamers than tiles. Only
// the size of the set matters for timing; the indices must match the
// simulator's ownership check.
func streamerSet(count, tiles, t int) []int {
	if count >= tiles {
		per := count / tiles
		s := make([]int, per)
		for j := range s {
			s[j] = t*per + j
		}
		return s
	}
	return []int{t % count}
}
