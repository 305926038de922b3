// Package source answers one question for every part of the webhook process: what does
// a restore PVC restore? The chain PVC → VolumeSnapshot → VolumeSnapshotContent → Longhorn
// backup follows one rule set (Resolve), used by the validating PVC rule, the mutating
// PVC handler and the background verifier. It reads objects only through the Lookup its
// caller passes; it does not judge them (the rules do) and writes nothing.
package source
