// A C ABI over FAISS's C++ API for cgo: Debian's libfaiss.a ships the C API's headers but not
// its implementation, so these few entry points stand in for it.
#include "shim.h"

#include <faiss/AutoTune.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/Index.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <cstring>
#include <exception>
#include <string>

static int fail(char* err, int errlen, const char* what) {
    if (err && errlen > 0) {
        std::strncpy(err, what, errlen - 1);
        err[errlen - 1] = 0;
    }
    return -1;
}

#define GUARD(body)                                  \
    try {                                            \
        body;                                        \
        return 0;                                    \
    } catch (const std::exception& e) {              \
        return fail(err, errlen, e.what());          \
    } catch (...) {                                  \
        return fail(err, errlen, "unknown C++ error"); \
    }

int umt_faiss_new(int d, const char* factory, int inner_product, void** out, char* err, int errlen) {
    GUARD(*out = faiss::index_factory(d, factory, inner_product ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2))
}

int umt_faiss_train(void* ix, int64_t n, const float* x, char* err, int errlen) {
    GUARD(static_cast<faiss::Index*>(ix)->train(n, x))
}

int umt_faiss_add(void* ix, int64_t n, const float* x, const int64_t* ids, char* err, int errlen) {
    GUARD(static_cast<faiss::Index*>(ix)->add_with_ids(n, x, ids))
}

int umt_faiss_search(void* ix, int64_t n, const float* q, int64_t k, float* dist, int64_t* labels, char* err, int errlen) {
    GUARD(static_cast<faiss::Index*>(ix)->search(n, q, k, dist, labels))
}

int umt_faiss_set(void* ix, const char* name, double v, char* err, int errlen) {
    GUARD(faiss::ParameterSpace().set_index_parameter(static_cast<faiss::Index*>(ix), name, v))
}

// hnsw finds the HNSW index under an IDMap wrapper (nullptr when there is none).
static faiss::IndexHNSW* hnsw(void* ix) {
    auto* idx = static_cast<faiss::Index*>(ix);
    if (auto* m = dynamic_cast<faiss::IndexIDMap*>(idx)) idx = m->index;
    return dynamic_cast<faiss::IndexHNSW*>(idx);
}

int umt_faiss_hnsw_ef_construction(void* ix, int set) {
    auto* h = hnsw(ix);
    if (!h) return 0;
    if (set > 0) h->hnsw.efConstruction = set;
    return h->hnsw.efConstruction;
}

int umt_faiss_write(void* ix, const char* path, char* err, int errlen) {
    GUARD(faiss::write_index(static_cast<faiss::Index*>(ix), path))
}

int umt_faiss_read(const char* path, void** out, char* err, int errlen) {
    GUARD(*out = faiss::read_index(path))
}

int64_t umt_faiss_ntotal(void* ix) { return static_cast<faiss::Index*>(ix)->ntotal; }
int umt_faiss_dim(void* ix) { return static_cast<faiss::Index*>(ix)->d; }
int umt_faiss_trained(void* ix) { return static_cast<faiss::Index*>(ix)->is_trained; }
void umt_faiss_free(void* ix) { delete static_cast<faiss::Index*>(ix); }
