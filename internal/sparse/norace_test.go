//go:build !race

package sparse

// raceDivisor: see race_test.go.
const raceDivisor = 1
