#ifndef UMT_FAISS_SHIM_H
#define UMT_FAISS_SHIM_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
int umt_faiss_new(int d, const char* factory, int inner_product, void** out, char* err, int errlen);
int umt_faiss_train(void* ix, int64_t n, const float* x, char* err, int errlen);
int umt_faiss_add(void* ix, int64_t n, const float* x, const int64_t* ids, char* err, int errlen);
int umt_faiss_search(void* ix, int64_t n, const float* q, int64_t k, float* dist, int64_t* labels, char* err, int errlen);
int umt_faiss_set(void* ix, const char* name, double v, char* err, int errlen);
// Sets HNSW's efConstruction when set > 0; returns it (0: not an HNSW index).
int umt_faiss_hnsw_ef_construction(void* ix, int set);
int umt_faiss_write(void* ix, const char* path, char* err, int errlen);
int umt_faiss_read(const char* path, void** out, char* err, int errlen);
int64_t umt_faiss_ntotal(void* ix);
int umt_faiss_dim(void* ix);
int umt_faiss_trained(void* ix);
void umt_faiss_free(void* ix);
#ifdef __cplusplus
}
#endif
#endif
