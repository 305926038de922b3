package restore

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// HandleKind is the scheme of a Longhorn CSI snapshotHandle.
type HandleKind string

// The handle kinds Longhorn's CSI driver understands. bs:// is parsed as KindBackup with
// Handle.Legacy set.
const (
	KindBackup       HandleKind = "bak"
	KindSnapshot     HandleKind = "snap"
	KindBackingImage HandleKind = "bi"
)

// Handle is a parsed Longhorn snapshotHandle. Volume and Name are set for bak, bs and snap
// handles; BackingImage, DataSourceType, ExportType and VolumeName for bi handles only.
type Handle struct {
	Kind   HandleKind
	Legacy bool   // written as bs:// (deprecated alias of bak://)
	Volume string // bak, bs, snap
	Name   string // backup or snapshot name
	// bi only: backingImage, backingImageDataSourceType, export-type (optional: raw or
	// qcow2) and volume-name (optional).
	BackingImage, DataSourceType, ExportType, VolumeName string
}

// HandleError says why a handle or reference was rejected: the value as given, the problem
// and the form that was expected. The webhook turns it into
// field.Invalid(path, Value, Problem+"; expected "+Expected).
type HandleError struct{ Value, Problem, Expected string }

// Error quotes the value with %q so control characters stay visible.
func (e *HandleError) Error() string {
	return fmt.Sprintf("%q: %s; expected %s", e.Value, e.Problem, e.Expected)
}

// Expected forms named in errors.
const (
	formBackup       = "bak://<volume>/<backup>"
	formLegacy       = "bs://<volume>/<backup>"
	formSnapshot     = "snap://<volume>/<snapshot>"
	formBackingImage = "bi://backing?backingImage=<name>&backingImageDataSourceType=<type>[&export-type=raw|qcow2][&volume-name=<volume>]"
	formAnyHandle    = formBackup + ", " + formSnapshot + " or " + formBackingImage
)

// Query parameters of a bi:// handle, as Longhorn's CSI driver names them.
const (
	paramBackingImage   = "backingImage"
	paramDataSourceType = "backingImageDataSourceType"
	paramExportType     = "export-type"
	paramVolumeName     = "volume-name"
)

// Longhorn's naming rules. Volumes are lowercase DNS-1123 labels (longhorn-manager); backup,
// snapshot and backing image names follow backupstore's util.ValidateName, restricted to
// lowercase because they are Kubernetes object names.
var (
	volumeNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	objectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]+$`)
)

const (
	minVolumeName = 2
	maxVolumeName = 40
)

// dataSourceTypes are the backing image data source types Longhorn knows.
func dataSourceTypes() []string {
	return []string{"download", "upload", "export-from-volume", "restore", "clone"}
}

// ParseHandle parses a Longhorn snapshotHandle: bak://<volume>/<backup>, the legacy
// bs://<volume>/<backup>, snap://<volume>/<snapshot> or a bi://backing?... handle. It is
// strict where Longhorn is loose: no extra path segments, no query or fragment on
// bak/bs/snap, no percent-encoding, whitespace, control characters or "."/".." parts, and
// names must follow Longhorn's rules. The error is a *HandleError.
func ParseHandle(s string) (Handle, error) {
	fail := func(problem, expected string) (Handle, error) {
		return Handle{}, &HandleError{Value: s, Problem: problem, Expected: expected}
	}
	if problem := checkCharacters(s); problem != "" {
		sc, _, _ := strings.Cut(s, ":")
		return fail(problem, formForScheme(sc))
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if sc, _, found := strings.Cut(s, ":"); found && sc != "" {
			return fail(fmt.Sprintf(`missing "://" after scheme %q`, sc), formForScheme(sc))
		}
		return fail("missing scheme", formAnyHandle)
	}
	switch scheme {
	case "bak", "bs", "snap":
		kind, legacy, form := KindBackup, scheme == "bs", formBackup
		if legacy {
			form = formLegacy
		}
		if scheme == "snap" {
			kind, form = KindSnapshot, formSnapshot
		}
		vol, name, problem := parseVolumePath(rest, kind)
		if problem != "" {
			return fail(problem, form)
		}
		return Handle{Kind: kind, Legacy: legacy, Volume: vol, Name: name}, nil
	case "bi":
		h, problem := parseBackingImage(rest)
		if problem != "" {
			return fail(problem, formBackingImage)
		}
		return h, nil
	case "":
		return fail("missing scheme", formAnyHandle)
	}
	if form := formForScheme(scheme); form != formAnyHandle {
		return fail(fmt.Sprintf("scheme %q must be lowercase %q", scheme, strings.ToLower(scheme)), form)
	}
	return fail(fmt.Sprintf("unknown scheme %q", scheme), formAnyHandle)
}

// formForScheme is the expected form for a scheme, compared case-insensitively.
func formForScheme(scheme string) string {
	switch strings.ToLower(scheme) {
	case "bak":
		return formBackup
	case "bs":
		return formLegacy
	case "snap":
		return formSnapshot
	case "bi":
		return formBackingImage
	}
	return formAnyHandle
}

// String is the canonical form of the handle: bs:// is written as bak://, and bi query
// parameters come in a fixed order.
func (h Handle) String() string {
	switch h.Kind {
	case KindBackup, KindSnapshot:
		return string(h.Kind) + "://" + h.Volume + "/" + h.Name
	case KindBackingImage:
		s := "bi://backing?" + paramBackingImage + "=" + h.BackingImage + "&" + paramDataSourceType + "=" + h.DataSourceType
		if h.ExportType != "" {
			s += "&" + paramExportType + "=" + h.ExportType
		}
		if h.VolumeName != "" {
			s += "&" + paramVolumeName + "=" + h.VolumeName
		}
		return s
	}
	return ""
}

// checkCharacters rejects what never belongs in a handle or reference: invalid UTF-8,
// control characters, whitespace and other non-ASCII characters. It returns "" when the
// string is clean, else the problem naming the first offending character and its offset.
func checkCharacters(s string) string {
	if s == "" {
		return "empty value"
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fmt.Sprintf("invalid UTF-8 byte 0x%02x at offset %d", s[i], i)
			}
			return fmt.Sprintf("non-ASCII character %q at offset %d", r, i)
		case unicode.IsControl(r):
			return fmt.Sprintf("control character %q at offset %d", r, i)
		case unicode.IsSpace(r):
			return fmt.Sprintf("whitespace %q at offset %d", r, i)
		case r > unicode.MaxASCII:
			return fmt.Sprintf("non-ASCII character %q at offset %d", r, i)
		}
	}
	return ""
}

// parseVolumePath parses "<volume>/<name>" after the scheme of a bak, bs or snap handle.
func parseVolumePath(rest string, kind HandleKind) (volume, name, problem string) {
	what := "backup name"
	if kind == KindSnapshot {
		what = "snapshot name"
	}
	if i := strings.IndexAny(rest, "%?#"); i >= 0 {
		switch rest[i] {
		case '%':
			return "", "", fmt.Sprintf("percent-encoded character %q not allowed", rest[i:min(i+3, len(rest))])
		case '?':
			return "", "", fmt.Sprintf("query string %q not allowed", rest[i:])
		default:
			return "", "", fmt.Sprintf("fragment %q not allowed", rest[i:])
		}
	}
	parts := strings.Split(rest, "/")
	for _, part := range parts {
		if part == "." || part == ".." {
			return "", "", fmt.Sprintf("relative path part %q not allowed", part)
		}
	}
	switch {
	case rest == "":
		return "", "", "missing volume name and " + what
	case parts[0] == "":
		return "", "", "missing volume name"
	case len(parts) == 1 || (len(parts) == 2 && parts[1] == ""):
		return "", "", "missing " + what
	case len(parts) > 2 && parts[1] == "":
		return "", "", "empty path segment after volume name"
	case len(parts) > 2:
		return "", "", fmt.Sprintf("extra path %q after %s", "/"+strings.Join(parts[2:], "/"), what)
	}
	if problem := checkVolumeName("volume name", parts[0]); problem != "" {
		return "", "", problem
	}
	if problem := checkObjectName(what, parts[1]); problem != "" {
		return "", "", problem
	}
	return parts[0], parts[1], ""
}

// checkVolumeName applies Longhorn's volume naming rule.
func checkVolumeName(what, v string) string {
	switch {
	case v == "." || v == "..":
		return fmt.Sprintf("%s %q is a relative path part", what, v)
	case strings.ToLower(v) != v:
		return fmt.Sprintf("%s %q has uppercase letters", what, v)
	case len(v) < minVolumeName || len(v) > maxVolumeName:
		return fmt.Sprintf("%s %q must be %d to %d characters long (is %d)", what, v, minVolumeName, maxVolumeName, len(v))
	case !volumeNameRE.MatchString(v):
		return fmt.Sprintf("%s %q is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)", what, v)
	}
	return ""
}

// checkObjectName applies Longhorn's backup, snapshot and backing image naming rule.
func checkObjectName(what, v string) string {
	switch {
	case v == "." || v == "..":
		return fmt.Sprintf("%s %q is a relative path part", what, v)
	case strings.ToLower(v) != v:
		return fmt.Sprintf("%s %q has uppercase letters", what, v)
	case !objectNameRE.MatchString(v):
		return fmt.Sprintf("%s %q must match %s (at least 2 characters)", what, v, objectNameRE)
	}
	return ""
}

// parseBackingImage parses what follows "bi://": "backing?" and the query parameters, in
// any order, each at most once.
func parseBackingImage(rest string) (Handle, string) {
	host, query, hasQuery := strings.Cut(rest, "?")
	switch {
	case host == "" || strings.HasPrefix(host, "/"):
		return Handle{}, `missing host "backing"`
	case strings.HasPrefix(host, "backing/"):
		return Handle{}, fmt.Sprintf("unexpected path %q after host", host[len("backing"):])
	case host != "backing":
		return Handle{}, fmt.Sprintf(`host %q must be "backing"`, host)
	case !hasQuery || query == "":
		return Handle{}, "missing query parameters " + paramBackingImage + " and " + paramDataSourceType
	}
	if i := strings.IndexAny(query, "%#"); i >= 0 {
		if query[i] == '%' {
			return Handle{}, fmt.Sprintf("percent-encoded character %q not allowed", query[i:min(i+3, len(query))])
		}
		return Handle{}, fmt.Sprintf("fragment %q not allowed", query[i:])
	}
	h := Handle{Kind: KindBackingImage}
	seen := map[string]bool{}
	for _, pair := range strings.Split(query, "&") {
		key, value, _ := strings.Cut(pair, "=")
		if problem := setBackingImageParam(&h, seen, pair, key, value); problem != "" {
			return Handle{}, problem
		}
	}
	switch {
	case !seen[paramBackingImage]:
		return Handle{}, "missing query parameter " + paramBackingImage
	case !seen[paramDataSourceType]:
		return Handle{}, "missing query parameter " + paramDataSourceType
	}
	return h, ""
}

// setBackingImageParam checks one key=value pair of a bi handle and stores it in h.
func setBackingImageParam(h *Handle, seen map[string]bool, pair, key, value string) string {
	if pair == "" {
		return `empty query parameter (stray "&")`
	}
	var dst *string
	var problem string
	switch key {
	case paramBackingImage:
		dst, problem = &h.BackingImage, checkObjectName("backing image name", value)
	case paramDataSourceType:
		dst = &h.DataSourceType
		if types := dataSourceTypes(); !slices.Contains(types, value) {
			problem = fmt.Sprintf("%s %q is not one of %s", paramDataSourceType, value, strings.Join(types, ", "))
		}
	case paramExportType:
		dst = &h.ExportType
		if value != "raw" && value != "qcow2" {
			problem = fmt.Sprintf("%s %q is not raw or qcow2", paramExportType, value)
		}
	case paramVolumeName:
		dst, problem = &h.VolumeName, checkVolumeName(paramVolumeName, value)
	default:
		return fmt.Sprintf("unknown query parameter %q", key)
	}
	switch {
	case seen[key]:
		return fmt.Sprintf("repeated query parameter %q", key)
	case !strings.Contains(pair, "="):
		return fmt.Sprintf("query parameter %q has no value", key)
	case value == "":
		return fmt.Sprintf("query parameter %q is empty", key)
	case problem != "":
		return problem
	}
	seen[key] = true
	*dst = value
	return ""
}
