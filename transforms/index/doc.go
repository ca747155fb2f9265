// Package index builds and searches an approximate-nearest-neighbour index over exported
// embeddings with FAISS (libfaiss through cgo; the only package that links it). The index file
// is FAISS's own (faiss.read_index opens it); its FAISS ids are row numbers, and ids.txt beside
// it maps each to the clip id, so Search returns clip ids. recall.json records recall@k against
// exact search on a sample of the rows.
package index
