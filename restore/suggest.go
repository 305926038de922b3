package restore

import (
	"context"
	"slices"
	"strings"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// Suggestions is what a "backup not found" answer offers instead.
type Suggestions struct {
	// Closest is the handle of the completed backup whose name is nearest the
	// missing one, when near enough to be a typo (see closestName); "" otherwise.
	Closest string
	// Available are handles of the newest completed backups, newest first.
	Available []string
}

// String is the hint appended to a "backup not found" error: "did you mean
// bak://v/b? available backups (newest first): …", or "" when there is none.
func (s Suggestions) String() string {
	var parts []string
	if s.Closest != "" {
		parts = append(parts, "did you mean "+s.Closest+"?")
	}
	if len(s.Available) > 0 {
		parts = append(parts, "available backups (newest first): "+strings.Join(s.Available, ", "))
	}
	return strings.Join(parts, " ")
}

// Suggest answers for the missing backup of vol (already read by the caller)
// with one listing of the volume's backups: it orders them by the listing's
// modification times and matches the name by edit distance without reading a
// cfg, then reads only the cfgs of the candidates it shows (a few, concurrently)
// to leave out in-progress backups and order by CreatedTime. limit bounds
// Available (0: all, which reads every cfg). missing may be "" (no Closest).
// On a driver without modification times every cfg is read, as before #13.
func Suggest(ctx context.Context, st *backupstore.Store, vol *backupstore.Volume, missing string, limit int) (Suggestions, error) {
	entries, err := st.BackupEntries(ctx, vol.Name)
	if err != nil {
		return Suggestions{}, err
	}
	names := make([]string, len(entries))
	timed := false
	for i, e := range entries {
		names[i] = e.Name
		timed = timed || !e.Modified.IsZero()
	}
	closest := closestName(missing, names)
	var done []*backupstore.Backup
	closestOK := false
	for next := 0; next < len(names) && (limit == 0 || len(done) < limit); {
		n := len(names) - next // every cfg, without times to order by or with no limit
		if timed && limit > 0 {
			n = min(n, limit-len(done)) // only as many as are still to show
		}
		batch := names[next : next+n]
		next += n
		extra := closest != "" && !closestOK && !slices.Contains(batch, closest)
		if extra {
			batch = append(slices.Clone(batch), closest) // read with the first batch
		}
		bs, err := st.ReadBackups(ctx, vol, batch)
		if err != nil {
			return Suggestions{}, err
		}
		for _, b := range bs {
			if b.InProgress() {
				continue
			}
			if b.Name == closest {
				closestOK = true
			}
			if !extra || b.Name != closest {
				done = append(done, b)
			}
		}
		if !closestOK {
			closest = "" // in progress (or never read): not a restorable suggestion
		}
	}
	backupstore.SortNewestFirst(done)
	var s Suggestions
	if closestOK {
		s.Closest = "bak://" + vol.Name + "/" + closest
	}
	for _, b := range done {
		if limit > 0 && len(s.Available) == limit {
			break
		}
		s.Available = append(s.Available, "bak://"+vol.Name+"/"+b.Name)
	}
	return s, nil
}

// closestName is the name nearest missing by edit distance, when the distance is
// at most 3 and under a third of missing's length (a typo, not another name);
// the newest of equals (names are newest first). "" when none is that near.
func closestName(missing string, names []string) string {
	if missing == "" {
		return ""
	}
	best, bestD := "", min(4, (len(missing)+2)/3)
	for _, n := range names {
		if d := editDistance(missing, n, bestD); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or bound when it is at
// least bound (rows are cut short once every cell reaches it).
func editDistance(a, b string, bound int) int {
	if d := len(a) - len(b); d >= bound || -d >= bound {
		return bound
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= bound {
			return bound
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], bound)
}
