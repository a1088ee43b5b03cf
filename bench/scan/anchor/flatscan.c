// flatscan: the C anchor of bench/scan. A plain flat (brute-force) scan:
// every query is compared with every row by squared Euclidean distance,
// AVX-512 intrinsics where the compiler targets them (gcc -O3
// -march=native), a plain loop otherwise, and the k nearest kept in a small
// sorted array. It also measures the machine's stream-read bandwidth: a sum
// of the same rows with wide loads, the ceiling of any scan of them.
//
// It reads a data file (uint32 n, nq, dim, then n·dim base floats and nq·dim
// query floats, little-endian) and answers commands on stdin, one line each:
//
//	scan LO HI ROWS K THREADS  queries LO..HI-1 over rows 0..ROWS-1; prints
//	                           "scan WALL_NS CPU_NS" then, per query, its
//	                           nanoseconds and its K ids, nearest first
//	stream REPS                sums all rows REPS times; prints
//	                           "stream WALL_NS CPU_NS BYTES"
//	quit
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

static float *base, *queries;
static long n, nq, dim;

static int64_t now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t cpu_ns(void) {
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return ((int64_t)u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000;
}

// alloc returns 2 MiB-aligned memory advised for huge pages, as larch
// advises its arena blocks.
static float *alloc(size_t floats) {
	size_t huge = 2 << 20, bytes = (floats * 4 + huge - 1) / huge * huge;
	float *p = aligned_alloc(huge, bytes);
	if (!p) {
		perror("aligned_alloc");
		exit(1);
	}
	madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

static inline float l2(const float *q, const float *r, long d) {
#ifdef __AVX512F__
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	long j = 0;
	for (; j + 64 <= d; j += 64) {
		__m512 a0 = _mm512_sub_ps(_mm512_loadu_ps(q + j), _mm512_loadu_ps(r + j));
		__m512 a1 = _mm512_sub_ps(_mm512_loadu_ps(q + j + 16), _mm512_loadu_ps(r + j + 16));
		__m512 a2 = _mm512_sub_ps(_mm512_loadu_ps(q + j + 32), _mm512_loadu_ps(r + j + 32));
		__m512 a3 = _mm512_sub_ps(_mm512_loadu_ps(q + j + 48), _mm512_loadu_ps(r + j + 48));
		s0 = _mm512_fmadd_ps(a0, a0, s0);
		s1 = _mm512_fmadd_ps(a1, a1, s1);
		s2 = _mm512_fmadd_ps(a2, a2, s2);
		s3 = _mm512_fmadd_ps(a3, a3, s3);
	}
	for (; j + 16 <= d; j += 16) {
		__m512 a = _mm512_sub_ps(_mm512_loadu_ps(q + j), _mm512_loadu_ps(r + j));
		s0 = _mm512_fmadd_ps(a, a, s0);
	}
	if (j < d) {
		__mmask16 m = (__mmask16)((1u << (d - j)) - 1);
		__m512 a = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + j), _mm512_maskz_loadu_ps(m, r + j));
		s1 = _mm512_fmadd_ps(a, a, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
#else
	float s = 0;
	for (long j = 0; j < d; j++) {
		float a = q[j] - r[j];
		s += a * a;
	}
	return s;
#endif
}

typedef struct {
	float d[64];
	long id[64];
	int len, k;
} topk;

static inline void offer(topk *t, float d, long id) {
	if (t->len == t->k) {
		if (d >= t->d[t->len - 1])
			return;
		t->len--;
	}
	int i = t->len++;
	while (i > 0 && t->d[i - 1] > d) {
		t->d[i] = t->d[i - 1];
		t->id[i] = t->id[i - 1];
		i--;
	}
	t->d[i] = d;
	t->id[i] = id;
}

typedef struct {
	const float *q;
	long lo, hi;
	topk t;
} part;

static void scan_part(part *p) {
	const float *r = base + p->lo * dim;
	for (long i = p->lo; i < p->hi; i++, r += dim)
		offer(&p->t, l2(p->q, r, dim), i);
}

static void *scan_thread(void *a) {
	scan_part(a);
	return NULL;
}

static void cmd_scan(long lo, long hi, long rows, int k, int threads) {
	if (k > 64)
		k = 64;
	if (threads < 1)
		threads = 1;
	if (threads > 16)
		threads = 16;
	long m = hi - lo;
	int64_t *ns = malloc(m * sizeof *ns);
	long *ids = malloc(m * k * sizeof *ids);
	int64_t w0 = now_ns(), c0 = cpu_ns();
	for (long qi = lo; qi < hi; qi++) {
		int64_t t0 = now_ns();
		part ps[16];
		pthread_t th[16];
		for (int p = 0; p < threads; p++) {
			ps[p].q = queries + qi * dim;
			ps[p].lo = rows * p / threads;
			ps[p].hi = rows * (p + 1) / threads;
			ps[p].t.len = 0;
			ps[p].t.k = k;
			if (p > 0)
				pthread_create(&th[p], NULL, scan_thread, &ps[p]);
		}
		scan_part(&ps[0]);
		for (int p = 1; p < threads; p++) {
			pthread_join(th[p], NULL);
			for (int j = 0; j < ps[p].t.len; j++)
				offer(&ps[0].t, ps[p].t.d[j], ps[p].t.id[j]);
		}
		ns[qi - lo] = now_ns() - t0;
		for (int j = 0; j < k; j++)
			ids[(qi - lo) * k + j] = j < ps[0].t.len ? ps[0].t.id[j] : -1;
	}
	int64_t w = now_ns() - w0, c = cpu_ns() - c0;
	printf("scan %lld %lld", (long long)w, (long long)c);
	for (long i = 0; i < m; i++) {
		printf(" %lld", (long long)ns[i]);
		for (int j = 0; j < k; j++)
			printf(" %ld", ids[i * k + j]);
	}
	printf("\n");
	fflush(stdout);
	free(ns);
	free(ids);
}

static void cmd_stream(int reps) {
	long total = n * dim;
	volatile float sink;
	int64_t w0 = now_ns(), c0 = cpu_ns();
	for (int r = 0; r < reps; r++) {
#ifdef __AVX512F__
		__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
		long j = 0;
		for (; j + 64 <= total; j += 64) {
			s0 = _mm512_add_ps(s0, _mm512_load_ps(base + j));
			s1 = _mm512_add_ps(s1, _mm512_load_ps(base + j + 16));
			s2 = _mm512_add_ps(s2, _mm512_load_ps(base + j + 32));
			s3 = _mm512_add_ps(s3, _mm512_load_ps(base + j + 48));
		}
		float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
		for (; j < total; j++)
			s += base[j];
#else
		float s = 0;
		for (long j = 0; j < total; j++)
			s += base[j];
#endif
		sink = s;
	}
	(void)sink;
	int64_t w = now_ns() - w0, c = cpu_ns() - c0;
	printf("stream %lld %lld %lld\n", (long long)w, (long long)c, (long long)total * 4 * reps);
	fflush(stdout);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: flatscan DATAFILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	uint32_t hdr[3];
	if (!f || fread(hdr, 4, 3, f) != 3) {
		perror(argv[1]);
		return 1;
	}
	n = hdr[0], nq = hdr[1], dim = hdr[2];
	base = alloc(n * dim);
	queries = alloc(nq * dim);
	if (fread(base, 4, n * dim, f) != (size_t)(n * dim) || fread(queries, 4, nq * dim, f) != (size_t)(nq * dim)) {
		fprintf(stderr, "%s: short file\n", argv[1]);
		return 1;
	}
	fclose(f);
#ifdef __AVX512F__
	printf("ready avx512\n");
#else
	printf("ready plain-c\n");
#endif
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof line, stdin)) {
		long lo, hi, rows;
		int k, threads, reps;
		if (sscanf(line, "scan %ld %ld %ld %d %d", &lo, &hi, &rows, &k, &threads) == 5)
			cmd_scan(lo, hi, rows, k, threads);
		else if (sscanf(line, "stream %d", &reps) == 1)
			cmd_stream(reps);
		else
			break;
	}
	return 0;
}
