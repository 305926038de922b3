// Package verify is the background verifier of the webhook process (#5): after a
// restore PVC is created, it follows the claim to its Longhorn backup (package source)
// and fetches and checksums every block, reporting on the PVC (an annotation, Events)
// and in metrics. It writes nothing to the backupstore and restores nothing; Add wires
// it onto the manager, where it runs on the elected leader.
package verify
