// hnsw_anchor is the hnswlib side of bench/ann and bench/scale: Debian's
// header-only libhnswlib-dev, compiled at run time with
// g++ -O3 -march=native -std=c++17.
//
//	hnsw_anchor DATA_FILE M EF_CONSTRUCTION [serve]
//
// DATA_FILE holds three little-endian uint32 (n, nq, dim), then n base
// vectors and nq query vectors as float32. With "serve" the base vectors are
// not read (the index is loaded from a file instead of built), so that the
// process holds only what serving needs. The program then reads commands
// on stdin, one per line, and answers each with one line on stdout:
//
//	build           builds the index (single thread)   -> "build SECONDS CPU_SECONDS"
//	save PATH       writes the index to PATH           -> "save SECONDS"
//	load PATH       reads the index from PATH          -> "load SECONDS"
//	query EF K LO HI  runs queries LO..HI-1 (single thread)
//	                -> "query SECONDS CPU_SECONDS ID ID ..." ((HI-LO)·K
//	                ids, query after query, nearest first; -1 pads a short
//	                answer; CPU_SECONDS is the process's CPU time, which
//	                leaves out the time other processes had the core)
//	mem             -> "mem RSS_BYTES PEAK_RSS_BYTES" (/proc/self/status)
//	quit
//
// Only the build, save, load and the query loop are timed; reading the
// data and printing the ids are not.
#include <hnswlib/hnswlib.h>

#include <ctime>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

static double cpu_seconds() {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// status_bytes returns a "Name:  N kB" field of /proc/self/status in bytes.
static long long status_bytes(const char* name) {
    std::ifstream f("/proc/self/status");
    std::string line;
    size_t n = std::strlen(name);
    while (std::getline(f, line)) {
        if (line.compare(0, n, name) == 0 && line.size() > n && line[n] == ':') {
            return std::atoll(line.c_str() + n + 1) * 1024;
        }
    }
    return -1;
}

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) {
        std::fprintf(stderr, "usage: hnsw_anchor DATA_FILE M EF_CONSTRUCTION [serve]\n");
        return 2;
    }
    const size_t M = std::strtoul(argv[2], nullptr, 10);
    const size_t efc = std::strtoul(argv[3], nullptr, 10);
    const bool serve = argc == 5 && std::string(argv[4]) == "serve";
    FILE* f = std::fopen(argv[1], "rb");
    if (!f) {
        std::perror(argv[1]);
        return 1;
    }
    uint32_t hdr[3];
    if (std::fread(hdr, sizeof hdr, 1, f) != 1) {
        std::fprintf(stderr, "%s: short header\n", argv[1]);
        return 1;
    }
    const size_t n = hdr[0], nq = hdr[1], dim = hdr[2];
    std::vector<float> base, queries(nq * dim);
    if (serve) {
        if (std::fseek(f, (long)(12 + n * dim * sizeof(float)), SEEK_SET) != 0) {
            std::perror("fseek");
            return 1;
        }
    } else {
        base.resize(n * dim);
        if (std::fread(base.data(), sizeof(float), base.size(), f) != base.size()) {
            std::fprintf(stderr, "%s: short data\n", argv[1]);
            return 1;
        }
    }
    if (std::fread(queries.data(), sizeof(float), queries.size(), f) != queries.size()) {
        std::fprintf(stderr, "%s: short data\n", argv[1]);
        return 1;
    }
    std::fclose(f);

    // HNSW_ANCHOR_SPACE=ip: hnswlib's inner-product space (bench/ann
    // -metric dotproduct); else L2.
    const char* sp = std::getenv("HNSW_ANCHOR_SPACE");
    const bool ip = sp != nullptr && std::strcmp(sp, "ip") == 0;
    hnswlib::L2Space l2space(dim);
    hnswlib::InnerProductSpace ipspace(dim);
    hnswlib::SpaceInterface<float>& space = ip ? static_cast<hnswlib::SpaceInterface<float>&>(ipspace) : l2space;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
#if defined(__AVX512F__)
    const char* simd = "avx512";
#elif defined(__AVX__)
    const char* simd = "avx";
#else
    const char* simd = "sse-or-scalar";
#endif
    std::printf("ready n=%zu nq=%zu dim=%zu simd=%s space=%s\n", n, nq, dim, simd, ip ? "ip" : "l2");
    std::fflush(stdout);

    std::vector<long long> ids;  // -1: fewer than k results
    std::string cmd;
    while (std::cin >> cmd) {
        if (cmd == "build") {
            if (serve) {
                std::fprintf(stderr, "build in serve mode\n");
                return 1;
            }
            index.reset();  // free the previous index before timing a new one
            auto t = std::chrono::steady_clock::now();
            double c = cpu_seconds();
            index.reset(new hnswlib::HierarchicalNSW<float>(&space, n, M, efc, 100));
            for (size_t i = 0; i < n; i++) index->addPoint(base.data() + i * dim, i);
            std::printf("build %.6f %.6f\n", seconds_since(t), cpu_seconds() - c);
        } else if (cmd == "save") {
            std::string path;
            std::cin >> path;
            if (!index) {
                std::fprintf(stderr, "save before build\n");
                return 1;
            }
            auto t = std::chrono::steady_clock::now();
            index->saveIndex(path);
            std::printf("save %.6f\n", seconds_since(t));
        } else if (cmd == "load") {
            std::string path;
            std::cin >> path;
            index.reset();
            auto t = std::chrono::steady_clock::now();
            index.reset(new hnswlib::HierarchicalNSW<float>(&space, path));
            std::printf("load %.6f\n", seconds_since(t));
        } else if (cmd == "query") {
            size_t ef, k, lo, hi;
            std::cin >> ef >> k >> lo >> hi;
            if (!index || lo > hi || hi > nq) {
                std::fprintf(stderr, "bad query command (or query before build)\n");
                return 1;
            }
            index->setEf(ef);
            ids.assign((hi - lo) * k, -1);
            auto t = std::chrono::steady_clock::now();
            double c = cpu_seconds();
            for (size_t q = lo; q < hi; q++) {
                auto res = index->searchKnn(queries.data() + q * dim, k);
                // res is a max-heap: farthest first.
                for (size_t j = res.size(); j > 0; j--) {
                    ids[(q - lo) * k + j - 1] = (long long)res.top().second;
                    res.pop();
                }
            }
            double s = seconds_since(t);
            c = cpu_seconds() - c;
            std::printf("query %.6f %.6f", s, c);
            for (auto id : ids) std::printf(" %lld", id);
            std::printf("\n");
        } else if (cmd == "mem") {
            std::printf("mem %lld %lld\n", status_bytes("VmRSS"), status_bytes("VmHWM"));
        } else if (cmd == "quit") {
            return 0;
        } else {
            std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
            return 1;
        }
        std::fflush(stdout);
    }
    return 0;
}
