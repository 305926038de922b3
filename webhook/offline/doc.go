// Package offline is `snaprestore validate`: the webhook's validating rules (package
// webhook) run on objects from YAML or JSON files, without a cluster. Cross-object rules
// see the other objects of the files; anything else is unknown, so it warns and never
// denies. It reads no backupstore. Run is the entry point; Report is its answer.
package offline
