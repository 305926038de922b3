// Package pki generates ECDSA CAs and serving certificates with the standard library,
// signs them and converts them to and from PEM. It is pure: no clients, no logging,
// no clock (callers pass the time). Entry points: NewCA, Sign, ParseKeyPair, RenewalTime.
package pki
