package export

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/umt-dev/umt/schemas"
)

// numpyLoad loads .npy files with Debian's numpy and returns each one's dtype, shape and
// values (widened to float64), or skips when numpy is not installed.
func numpyLoad(t *testing.T, paths ...string) []struct {
	DType  string      `json:"dtype"`
	Shape  []int       `json:"shape"`
	Values [][]float64 `json:"values"`
} {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skipf("needs %s with numpy (Debian python3-numpy; scripts/setup.sh installs it): %v", py, err)
	}
	script := `import json, sys, numpy as np
out = []
for p in sys.argv[1:]:
    a = np.load(p, allow_pickle=False)
    out.append({"dtype": a.dtype.str, "shape": list(a.shape), "values": a.astype(np.float64).tolist()})
print(json.dumps(out))`
	b, err := exec.Command(py, append([]string{"-c", script}, paths...)...).Output()
	if err != nil {
		t.Fatalf("numpy.load: %v", err)
	}
	var out []struct {
		DType  string      `json:"dtype"`
		Shape  []int       `json:"shape"`
		Values [][]float64 `json:"values"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return out
}

// readMetadata reads a metadata/<shard>.parquet file's clip ids.
func readMetadata(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	for _, f := range tbl.Schema().Fields() {
		if _, ok := f.Type.(arrow.ListLikeType); ok {
			t.Errorf("%s: metadata column %s is a vector column", path, f.Name)
		}
	}
	var ids []string
	for _, ch := range tbl.Column(tbl.Schema().FieldIndices("clip_id")[0]).Data().Chunks() {
		s := ch.(*array.String)
		for i := 0; i < s.Len(); i++ {
			ids = append(ids, s.Value(i))
		}
	}
	return ids
}

// checkNPYView reads an export's --npy view as embedding-reader does (emb/*.npy and
// metadata/*.parquet, each sorted by name, paired by position, empty .npy files skipped) with
// numpy, and checks it is the export: the same rows in the same order, values of the export's
// dtype (<f4, <f2) equal to the Parquet column's, the ids row-aligned, one pair per shard with rows and no other file.
func checkNPYView(t *testing.T, out string) {
	t.Helper()
	idx, rows, err := ReadEmbeddings(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if !idx.NPY {
		t.Fatal("the index does not record the --npy view")
	}
	npys, _ := filepath.Glob(filepath.Join(out, "emb", "*"))
	metas, _ := filepath.Glob(filepath.Join(out, "metadata", "*"))
	sort.Strings(npys)
	sort.Strings(metas)
	var want []string
	for _, sh := range idx.Shards {
		if sh.Rows > 0 {
			want = append(want, strings.TrimSuffix(sh.Name, ".parquet"))
		}
	}
	stem := func(p string) string { return strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)) }
	for _, fs := range [][]string{npys, metas} {
		var got []string
		for _, p := range fs {
			got = append(got, stem(p))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("view files %v, want one per shard with rows %v", got, want)
		}
	}
	var ids []string
	var vals [][]float64
	descr := map[string]string{schemas.DTypeFloat32: "<f4", schemas.DTypeFloat16: "<f2"}[idx.Info.DType]
	for i, a := range numpyLoad(t, npys...) {
		if a.DType != descr || len(a.Shape) != 2 || a.Shape[1] != idx.Info.Dim || a.Shape[0] != len(a.Values) {
			t.Fatalf("%s: numpy reads %s %v, want %s [N %d]", npys[i], a.DType, a.Shape, descr, idx.Info.Dim)
		}
		vals = append(vals, a.Values...)
		m := readMetadata(t, metas[i])
		if len(m) != a.Shape[0] {
			t.Errorf("%s holds %d rows, its .npy %d", metas[i], len(m), a.Shape[0])
		}
		ids = append(ids, m...)
	}
	if len(vals) != len(rows) || len(ids) != len(rows) {
		t.Fatalf("the view holds %d vectors and %d ids, the export %d rows", len(vals), len(ids), len(rows))
	}
	for r, row := range rows {
		if ids[r] != row.ClipID {
			t.Errorf("view row %d is %s, the export's %s", r, ids[r], row.ClipID)
		}
		for j, v := range row.Embedding {
			if float64(v) != vals[r][j] {
				t.Fatalf("view row %d [%d] = %v, the Parquet column holds %v", r, j, vals[r][j], v)
			}
		}
	}
}

// TestNPYViewReadByNumpy: the --npy view of a dataset export, float32 and float16, read with
// numpy as embedding-reader reads it, is the export (checkNPYView); a rerun with --npy over an
// export made without it adds the same view, computing nothing.
func TestNPYViewReadByNumpy(t *testing.T) {
	in, _ := framesDataset(t, 5, 2, 32)
	for _, dt := range []string{schemas.DTypeFloat32, schemas.DTypeFloat16} {
		cfg := teacherConfig(t, in, t.TempDir(), 2)
		cfg.NPY, cfg.DType = true, dt
		if rep := mustExport(t, cfg); rep.Shards != 3 {
			t.Fatalf("%s: %d shards, want 3", dt, rep.Shards)
		}
		checkNPYView(t, cfg.Output)
		// An export made without --npy gets the view from its shards on a rerun with it.
		later := cfg
		later.NPY, later.Output = false, t.TempDir()
		mustExport(t, later)
		later.NPY = true
		if rep := mustExport(t, later); rep.Computed != 0 {
			t.Errorf("%s: adding the view computed %d clips, want 0", dt, rep.Computed)
		}
		checkNPYView(t, later.Output)
		sameTree(t, dt+" view added on a rerun", tree(t, later.Output), tree(t, cfg.Output))
	}
}

// TestNPYFloat16ReadByNumpy: a float16 embedding column becomes a <f2 array numpy reads back
// bit for bit, including a slice of a larger column (non-zero offset) and zero rows.
func TestNPYFloat16ReadByNumpy(t *testing.T) {
	const n, dim = 5, 3
	b := array.NewFixedSizeListBuilder(memory.DefaultAllocator, dim, arrow.FixedWidthTypes.Float16)
	vb := b.ValueBuilder().(*array.Float16Builder)
	var want [][]float64
	for i := 0; i < n; i++ {
		b.Append(true)
		var row []float64
		for j := 0; j < dim; j++ {
			h := float16.New(float32(i) - float32(j)/3 + 1e-3)
			vb.Append(h)
			row = append(row, float64(h.Float32()))
		}
		want = append(want, row)
	}
	emb := b.NewArray()
	ids := array.NewStringBuilder(memory.DefaultAllocator)
	for i := 0; i < n; i++ {
		ids.Append(string(rune('a' + i)))
	}
	idArr := ids.NewArray()
	sc := arrow.NewSchema([]arrow.Field{{Name: "clip_id", Type: arrow.BinaryTypes.String}, {Name: "embedding", Type: emb.DataType()}}, nil)
	rec := array.NewRecordBatch(sc, []arrow.Array{idArr, emb}, n)
	dir := t.TempDir()
	var paths []string
	for _, c := range []struct {
		name   string
		lo, hi int64
	}{{"all", 0, n}, {"tail", 2, n}, {"none", 1, 1}} {
		npy, meta, err := NPYView(rec.NewSlice(c.lo, c.hi))
		if err != nil {
			t.Fatal(err)
		}
		if len(npy)%64 != (int(c.hi-c.lo)*dim*2)%64 || len(meta) == 0 {
			t.Errorf("%s: header not 64-byte aligned or no metadata", c.name)
		}
		p := filepath.Join(dir, c.name+".npy")
		if err := os.WriteFile(p, npy, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	got := numpyLoad(t, paths...)
	for i, c := range [][2]int{{0, n}, {2, n}, {1, 1}} {
		if got[i].DType != "<f2" || !slices.Equal(got[i].Shape, []int{c[1] - c[0], dim}) {
			t.Errorf("%s: %s %v, want <f2 [%d %d]", paths[i], got[i].DType, got[i].Shape, c[1]-c[0], dim)
			continue
		}
		for r := range got[i].Values {
			for j, v := range got[i].Values[r] {
				if w := want[c[0]+r][j]; v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
					t.Errorf("%s[%d][%d] = %v, want %v", paths[i], r, j, v, w)
				}
			}
		}
	}
}
