// Package schemas defines the Arrow schemas of umt's datasets — clip shards, the failures table
// and embedding exports — with their versions, provenance metadata and validation. It is the
// contract between prep, train and export, so every change here bumps a schema version.
//
// It may import Arrow and nothing of ours.
package schemas
