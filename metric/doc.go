// Package metric declares snaprestore's Prometheus metrics in one shape: named
// snaprestore_<subsystem>_<name>, registered with controller-runtime's registry (served
// on the manager's /metrics), and with every label value a caller names created at zero,
// so a dashboard sees the series before the first event. It measures nothing itself.
package metric
