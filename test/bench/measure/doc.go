// Package measure is what the benchmark programs under test/bench share: one
// timed run of a process (wall time including a sync, peak RSS, stderr), the
// median of repeated runs, a goal's verdict and the work directory. It runs
// nothing by itself; the programs decide what to time and print.
package measure
