package runners

import (
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/gcpopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	beamrunners "github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
)

// Runner names accepted by --runner. "flink" and "spark" are Beam's aliases of "universal".
const (
	Prism     = "prism"
	Universal = "universal"
	Flink     = "flink"
	Spark     = "spark"
	Dataflow  = "dataflow"
)

// Settings are the runner-related Beam flags, read from the global flag set (where the CLI
// parsed them and where Beam reads them).
type Settings struct {
	Runner            string // "" means prism in-process
	Endpoint          string // job server HOST:PORT (universal, flink; prism when external)
	EnvironmentType   string // LOOPBACK, DOCKER, EXTERNAL, PROCESS ("" means DOCKER for a job server)
	EnvironmentConfig string // container image for DOCKER, address for EXTERNAL
	WorkerBinary      string // prebuilt linux/amd64 cgo worker (make worker)
	Project, Region   string // Dataflow
	StagingLocation   string // Dataflow: gs://…
	TempLocation      string // Dataflow: gs://… (default <staging>/tmp)
	SDKContainerImage string // Dataflow: worker image with FFmpeg's libraries
}

// Current returns the settings from the global flags (Beam's own flag variables).
func Current(ctx context.Context) Settings {
	s := Settings{
		Runner:            strings.ToLower(strings.TrimSpace(*beamrunners.Runner)),
		Endpoint:          *jobopts.Endpoint,
		EnvironmentType:   strings.ToUpper(*jobopts.EnvironmentType),
		EnvironmentConfig: *jobopts.EnvironmentConfig,
		WorkerBinary:      *jobopts.WorkerBinary,
		Region:            *gcpopts.Region,
		StagingLocation:   flagValue("staging_location"),
		TempLocation:      flagValue("temp_location"),
		SDKContainerImage: flagValue("sdk_container_image"),
	}
	if s.Runner == Dataflow {
		s.Project = gcpopts.GetProjectFromFlagOrEnvironment(ctx)
		if s.Region == "" {
			s.Region = os.Getenv("CLOUDSDK_COMPUTE_REGION")
		}
	} else {
		s.Project = *gcpopts.Project
	}
	return s
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// InProcess reports whether the pipeline runs inside this process: prism without an endpoint.
func (s Settings) InProcess() bool {
	return (s.Runner == "" || s.Runner == Prism) && s.Endpoint == ""
}

// Loopback reports whether the SDK workers run in this process (in-process prism, or a job
// server with --environment_type=LOOPBACK): they then see this machine's files.
func (s Settings) Loopback() bool {
	return s.InProcess() || s.EnvironmentType == "LOOPBACK"
}

// LocalWorkers reports whether the SDK workers see this machine's files: Loopback, or the
// PROCESS environment of a job server on this machine (workers are its subprocesses).
func (s Settings) LocalWorkers() bool {
	if s.Loopback() {
		return true
	}
	host := s.Endpoint
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return s.EnvironmentType == "PROCESS" && (host == "localhost" || host == "127.0.0.1" || host == "[::1]")
}

// Validate checks the settings before a pipeline is built, with errors that say what to pass.
// Beam itself would exit the process (Dataflow without a project) or fail late (a cgo binary
// cross-compiled without cgo) on the same mistakes.
func (s Settings) Validate() error {
	switch s.Runner {
	case "", Prism:
		if s.Endpoint == "" {
			return nil // in-process prism forces LOOPBACK
		}
		return s.validateJobServer()
	case Universal, Flink, Spark:
		if s.Endpoint == "" {
			return fmt.Errorf("--runner=%s needs --endpoint=HOST:PORT of the job server (Flink's job server listens on 8099 by default)", s.Runner)
		}
		return s.validateJobServer()
	case Dataflow:
		return s.validateDataflow()
	case "direct":
		return errors.New("the direct runner is deprecated and hides registration mistakes; use --runner=prism (the default)")
	}
	return fmt.Errorf("unknown --runner=%q; use prism (default, in-process), universal or flink (with --endpoint), or dataflow", s.Runner)
}

func (s Settings) validateJobServer() error {
	switch s.EnvironmentType {
	case "LOOPBACK":
		return nil
	case "", "DOCKER":
		if s.EnvironmentConfig == "" {
			return fmt.Errorf("--runner=%s with the DOCKER environment needs --environment_config=IMAGE, an image built from runners/container/Dockerfile (the stock Beam Go image has no FFmpeg); for a local job server pass --environment_type=LOOPBACK", s.runnerName())
		}
		return s.validateWorkerBinary()
	case "EXTERNAL", "PROCESS":
		if s.EnvironmentConfig == "" {
			return fmt.Errorf("--environment_type=%s needs --environment_config (the worker pool address for EXTERNAL, the boot command for PROCESS)", s.EnvironmentType)
		}
		return s.validateWorkerBinary()
	}
	return fmt.Errorf("unknown --environment_type=%q; use LOOPBACK, DOCKER, EXTERNAL or PROCESS", s.EnvironmentType)
}

func (s Settings) validateDataflow() error {
	var missing []string
	if s.Project == "" {
		missing = append(missing, "--project=PROJECT (or Application Default Credentials with a project)")
	}
	if s.Region == "" {
		missing = append(missing, "--region=REGION (e.g. us-central1)")
	}
	if !strings.HasPrefix(s.StagingLocation, "gs://") {
		missing = append(missing, "--staging_location=gs://BUCKET/staging")
	}
	if s.SDKContainerImage == "" {
		missing = append(missing, "--sdk_container_image=IMAGE built from runners/container/Dockerfile (the default image has no FFmpeg libraries)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("--runner=dataflow needs %s", strings.Join(missing, ", "))
	}
	if s.TempLocation != "" && !strings.HasPrefix(s.TempLocation, "gs://") {
		return fmt.Errorf("--temp_location=%q must be a gs:// path for Dataflow", s.TempLocation)
	}
	return s.validateWorkerBinary()
}

// validateWorkerBinary checks --worker_binary: remote workers cannot run a binary that Beam
// cross-compiles, because Beam builds it with CGO_ENABLED=0 and the FFmpeg bindings need cgo.
func (s Settings) validateWorkerBinary() error {
	if s.WorkerBinary == "" {
		return fmt.Errorf("--runner=%s with remote workers needs --worker_binary: build the linux/amd64 worker with 'make worker' (scripts/build-worker.sh) and pass --worker_binary=bin/umt-worker; Beam's own cross-compile disables cgo and cannot build FFmpeg support", s.runnerName())
	}
	return CheckWorkerBinary(s.WorkerBinary)
}

// CheckWorkerBinary checks that path is a linux/amd64 ELF executable.
func CheckWorkerBinary(path string) error {
	f, err := elf.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--worker_binary=%s does not exist; build it with 'make worker'", path)
	}
	if err != nil {
		return fmt.Errorf("--worker_binary=%s is not a Linux executable (%v); build it with 'make worker'", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("--worker_binary=%s is a %v %v file, not a linux/amd64 executable; build it with 'make worker'", path, f.Machine, f.Type)
	}
	return nil
}

func (s Settings) runnerName() string {
	if s.Runner == "" {
		return Prism
	}
	return s.Runner
}
