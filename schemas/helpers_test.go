package schemas_test

import "github.com/apache/arrow-go/v18/arrow"

func withMeta(sc *arrow.Schema, keys, vals []string) *arrow.Schema {
	md := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(sc.Fields(), &md)
}
