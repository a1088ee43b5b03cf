// Package simd holds the distance kernels larch's searches spend their time
// in: float32 dot product and squared Euclidean distance (single pairs, a
// query against a contiguous block of rows, and a query against a list of row
// offsets), the int8 dot product for scalar-quantized codes, and the Hamming
// distance between binary codes.
//
// Every kernel has a pure-Go reference implementation that is always
// compiled and that every other implementation is tested against. On amd64
// there are AVX2+FMA and AVX-512 versions (AVX-512 VNNI for int8, VPOPCNTQ for
// Hamming); on arm64 a NEON version of the float32 kernels. The best
// implementation the CPU supports is chosen once, when the package is
// initialised, with golang.org/x/sys/cpu; each kernel is gated on exactly the
// features its instructions use. Building with the purego tag leaves only the
// generic kernels. [Implementations] reports what was chosen.
//
// # Numerics
//
// The float32 kernels accumulate in float32, in several independent partial
// sums; the order of additions therefore differs between implementations and
// results agree with the generic kernel within rounding: for a pair of
// n-vectors, |got − generic| ≤ 2·n·2⁻²³·Σ|aᵢbᵢ|. Within one implementation
// the single-pair, block and gather forms add in the same order, so they agree
// to the bit: a score does not depend on which path computed it. NaN and ±Inf
// propagate as IEEE 754 says. The int8 and Hamming kernels are exact.
//
// # Calling conventions
//
// The kernels do not allocate. Lengths are the caller's contract: b must be
// at least as long as a, out at least as long as the rows it receives; a
// violation panics like an out-of-range slice index. Dimensions under 16 stay
// in Go, where a call into assembly would cost more than it saves. Block and
// gather forms call the assembly one group of rows at a time, so a long scan
// stays preemptible between groups.
package simd
