package restore

import (
	"fmt"
	"strings"
)

// Reference is a bare backup reference: a bak:// or bs:// handle, "<volume>/<backup>", or
// the backup URL the Longhorn UI shows (s3://bucket@region/path?backup=..&volume=..,
// nfs://host:/path?.., cifs://.., azblob://.., vfs:///path?.., file:///path?..).
type Reference struct {
	Volume, Backup string
	Backupstore    string // backupstore URL when the reference carried one, else ""
	Legacy         bool   // given as bs://
}

// Handle is the canonical snapshotHandle of the referenced backup: "bak://<volume>/<backup>".
func (r Reference) Handle() string {
	return string(KindBackup) + "://" + r.Volume + "/" + r.Backup
}

const (
	formBareReference = "<volume>/<backup>"
	formAnyReference  = formBackup + ", " + formBareReference + " or a Longhorn backup URL <backupstore>?backup=<backup>&volume=<volume>"
)

// backupstoreForm is the expected form of a Longhorn UI backup URL for a backupstore
// scheme, or "" when the scheme is not a backupstore scheme.
func backupstoreForm(scheme string) string {
	const query = "?backup=<backup>&volume=<volume>"
	switch scheme {
	case "s3":
		return "s3://<bucket>@<region>/<path>" + query
	case "nfs":
		return "nfs://<server>:/<path>" + query
	case "cifs":
		return "cifs://<server>/<share>" + query
	case "azblob":
		return "azblob://<container>@<endpoint>/<path>" + query
	case "vfs", "file":
		return scheme + ":///<path>" + query
	}
	return ""
}

// ParseReference parses a bare backup reference. Handles keep their own grammar
// (ParseHandle); a Longhorn UI URL must carry exactly the backup and volume query
// parameters, and Backupstore is the URL without them. The error is a *HandleError.
func ParseReference(s string) (Reference, error) {
	fail := func(problem, expected string) (Reference, error) {
		return Reference{}, &HandleError{Value: s, Problem: problem, Expected: expected}
	}
	if problem := checkCharacters(s); problem != "" {
		form := formBareReference
		if sc, _, found := strings.Cut(s, ":"); found || s == "" {
			form = referenceForm(sc)
		}
		return fail(problem, form)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if sc, _, found := strings.Cut(s, ":"); found {
			if form := referenceForm(sc); sc != "" && form != formAnyReference {
				return fail(fmt.Sprintf(`missing "://" after scheme %q`, sc), form)
			}
			return fail(`":" not allowed in a bare reference`, formAnyReference)
		}
		vol, backup, problem := parseVolumePath(s, KindBackup)
		if problem != "" {
			return fail(problem, formBareReference)
		}
		return Reference{Volume: vol, Backup: backup}, nil
	}
	switch scheme {
	case "bak", "bs":
		h, err := ParseHandle(s)
		if err != nil {
			return Reference{}, err
		}
		return Reference{Volume: h.Volume, Backup: h.Name, Legacy: h.Legacy}, nil
	case "snap", "bi":
		return fail(fmt.Sprintf("a %s:// handle does not name a backup", scheme), formAnyReference)
	case "":
		return fail("missing scheme", formAnyReference)
	}
	if form := backupstoreForm(scheme); form != "" {
		ref, problem := parseBackupURL(scheme, rest)
		if problem != "" {
			return fail(problem, form)
		}
		return ref, nil
	}
	if form := referenceForm(scheme); form != formAnyReference {
		return fail(fmt.Sprintf("scheme %q must be lowercase %q", scheme, strings.ToLower(scheme)), form)
	}
	return fail(fmt.Sprintf("unknown scheme %q", scheme), formAnyReference)
}

// referenceForm is the expected form for a scheme compared case-insensitively.
func referenceForm(scheme string) string {
	lower := strings.ToLower(scheme)
	switch lower {
	case "bak":
		return formBackup
	case "bs":
		return formLegacy
	}
	if form := backupstoreForm(lower); form != "" {
		return form
	}
	return formAnyReference
}

// parseBackupURL parses what follows "<scheme>://" in a Longhorn UI backup URL.
func parseBackupURL(scheme, rest string) (Reference, string) {
	if i := strings.IndexAny(rest, "%#"); i >= 0 {
		if rest[i] == '%' {
			return Reference{}, fmt.Sprintf("percent-encoded character %q not allowed", rest[i:min(i+3, len(rest))])
		}
		return Reference{}, fmt.Sprintf("fragment %q not allowed", rest[i:])
	}
	base, query, _ := strings.Cut(rest, "?")
	if problem := checkBackupstore(scheme, base); problem != "" {
		return Reference{}, problem
	}
	if query == "" {
		return Reference{}, "missing query parameters backup and volume"
	}
	ref := Reference{Backupstore: scheme + "://" + base}
	seen := map[string]bool{}
	for _, pair := range strings.Split(query, "&") {
		key, value, hasValue := strings.Cut(pair, "=")
		var dst *string
		var problem string
		switch key {
		case "backup":
			dst, problem = &ref.Backup, checkObjectName("backup name", value)
		case "volume":
			dst, problem = &ref.Volume, checkVolumeName("volume name", value)
		case "":
			if pair == "" {
				return Reference{}, `empty query parameter (stray "&")`
			}
			return Reference{}, fmt.Sprintf("query parameter %q has no name", pair)
		default:
			return Reference{}, fmt.Sprintf("unexpected query parameter %q", key)
		}
		switch {
		case seen[key]:
			return Reference{}, fmt.Sprintf("repeated query parameter %q", key)
		case !hasValue:
			return Reference{}, fmt.Sprintf("query parameter %q has no value", key)
		case value == "":
			return Reference{}, fmt.Sprintf("query parameter %q is empty", key)
		case problem != "":
			return Reference{}, problem
		}
		seen[key] = true
		*dst = value
	}
	switch {
	case !seen["backup"]:
		return Reference{}, `missing query parameter "backup"`
	case !seen["volume"]:
		return Reference{}, `missing query parameter "volume"`
	}
	return ref, ""
}

// checkBackupstore checks the backupstore part of a UI backup URL: a host for network
// stores (a bucket@region for S3), an absolute path for vfs/file, and no "."/".." parts.
func checkBackupstore(scheme, base string) string {
	host, path, _ := strings.Cut(base, "/")
	switch {
	case scheme == "vfs" || scheme == "file":
		if host != "" {
			return fmt.Sprintf("unexpected host %q (a %s URL has three slashes: %s:///<path>)", host, scheme, scheme)
		}
		if strings.Trim(path, "/") == "" {
			return "missing backupstore path"
		}
	case host == "":
		return "missing backupstore host"
	case scheme == "s3" && (strings.HasPrefix(host, "@") || !strings.Contains(host, "@") || strings.HasSuffix(host, "@")):
		return fmt.Sprintf("s3 host %q is not <bucket>@<region>", host)
	}
	for _, part := range strings.Split(path, "/") {
		if part == "." || part == ".." {
			return fmt.Sprintf("relative path part %q in backupstore path", part)
		}
	}
	return ""
}
