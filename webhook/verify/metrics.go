package verify

import "github.com/snaprestore/snaprestore/metric"

// Results of the background verification (#5).
const (
	resultIntact  = "intact"
	resultDamaged = "damaged"
	resultError   = "error"
)

// Metrics of the background verification (#5); the label is bounded to the results.
var (
	verifications = metric.CounterVec("restore", "verifications_total",
		"Deep verifications of the backups restore PVCs name, by result (intact, damaged, error).", "result", resultIntact, resultDamaged, resultError)
	verifiedBytes = metric.Counter("restore", "verified_bytes_total",
		"Logical bytes of backup blocks fetched, decompressed and checksummed by verifications.")
)
