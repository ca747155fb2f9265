// Package runners owns where a pipeline runs: Prism in-process (the default), any portable job
// server such as Flink's (--runner=universal --endpoint=HOST:PORT), and Dataflow, plus the
// worker entry point the Beam harness uses when it re-executes our binary with --worker.
//
// It may import Beam and nothing of ours but schemas. Pipelines are built in pipelines/ and
// handed here to run; no other package below cmd/ chooses or configures a runner.
package runners
