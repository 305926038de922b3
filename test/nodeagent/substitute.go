package nodeagent

import (
	"sort"
	"strings"
)

// pathMap replaces a container path (a mount path, device path or the termination
// message path) with the host path the agent backs it with.
type pathMap struct{ from, to string }

// substitute replaces in s every container path of maps that stands as a path of
// its own: it starts s or follows a character that cannot be part of a path (not a
// letter, digit, '.', '_', '-' or '/'), and it ends s or is followed by '/' or such
// a character. So with /data -> /tmp/v, "echo hi > /data/x" and "--dir=/data"
// change, "/database" and "/x/data" do not. The longest path wins (a mount nested
// in another), and text already substituted is not scanned again.
func substitute(s string, maps []pathMap) string {
	sorted := append([]pathMap(nil), maps...)
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i].from) > len(sorted[j].from) })
	var b strings.Builder
	for i := 0; i < len(s); {
		if i == 0 || !pathChar(s[i-1]) {
			if m, ok := matchAt(s, i, sorted); ok {
				b.WriteString(m.to)
				i += len(m.from)
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func matchAt(s string, i int, maps []pathMap) (pathMap, bool) {
	for _, m := range maps {
		end := i + len(m.from)
		if m.from != "" && strings.HasPrefix(s[i:], m.from) && (end == len(s) || !nameChar(s[end])) {
			return m, true
		}
	}
	return pathMap{}, false
}

func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func pathChar(c byte) bool { return nameChar(c) || c == '/' }

// expand replaces $(NAME) with vars[NAME] as the kubelet does in command, args and
// env values: $$ is a literal $, and a reference to an unknown name stays as written.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
		case s[i+1] == '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
