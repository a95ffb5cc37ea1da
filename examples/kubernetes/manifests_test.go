// Package kubernetes holds example manifests for running ocm in a cluster;
// its test decodes them strictly into the Kubernetes API types.
package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// objects decodes every document of file strictly (an unknown or misspelt
// field fails) into the type its apiVersion and kind name.
func objects(t *testing.T, file string) []any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	for i, doc := range bytes.Split(b, []byte("\n---\n")) {
		var tm struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s doc %d: %v", file, i, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "batch/v1 Job":
			obj = &batchv1.Job{}
		case "batch/v1 CronJob":
			obj = &batchv1.CronJob{}
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		default:
			t.Fatalf("%s doc %d: unexpected %s %s", file, i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s doc %d (%s): %v", file, i, tm.Kind, err)
		}
		out = append(out, obj)
	}
	return out
}

func job(t *testing.T, file string) *batchv1.Job {
	t.Helper()
	objs := objects(t, file)
	if len(objs) != 1 {
		t.Fatalf("%s: %d objects, want one Job", file, len(objs))
	}
	j, ok := objs[0].(*batchv1.Job)
	if !ok {
		t.Fatalf("%s: %T, want a Job", file, objs[0])
	}
	return j
}

func TestManifestsDecodeStrictly(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %v", files)
	}
	for _, f := range files {
		for _, o := range objects(t, f) {
			var spec *corev1.PodSpec
			switch o := o.(type) {
			case *batchv1.Job:
				spec = &o.Spec.Template.Spec
			case *batchv1.CronJob:
				spec = &o.Spec.JobTemplate.Spec.Template.Spec
			}
			if spec != nil {
				checkPod(t, f, spec)
			}
		}
	}
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkPod holds every pod to what the image needs: a non-root user, volumes
// that exist, $(VARS) the container declares (the kubelet leaves others as
// they are), and an ocm command.
func checkPod(t *testing.T, file string, spec *corev1.PodSpec) {
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: pod must run as a non-root uid", file)
	}
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy %q: a Job's pod must not restart in place (a failed image would loop)", file, spec.RestartPolicy)
	}
	vols := map[string]bool{}
	for _, v := range spec.Volumes {
		vols[v.Name] = true
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		if len(c.Command) != 1 || !strings.HasPrefix(c.Command[0], "ocm-") {
			t.Errorf("%s: container %s: command %v: want one ocm command (the image has no shell)", file, c.Name, c.Command)
		} else if _, err := os.Stat(filepath.Join("..", "..", "cmd", c.Command[0])); err != nil {
			t.Errorf("%s: container %s: no command %s", file, c.Name, c.Command[0])
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				t.Errorf("%s: container %s mounts unknown volume %s", file, c.Name, m.Name)
			}
		}
		env := map[string]bool{}
		for _, e := range c.Env {
			env[e.Name] = true
		}
		for _, a := range c.Args {
			for _, m := range varRef.FindAllStringSubmatch(a, -1) {
				if !env[m[1]] {
					t.Errorf("%s: container %s: %s in args is not in its env, so it is not expanded", file, c.Name, m[0])
				}
			}
		}
	}
}

// flag returns the value after name in args.
func flag(args []string, name string) (string, bool) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1], true
		}
	}
	return "", false
}

func mountOf(c corev1.Container, path string) (string, bool) {
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return m.Name, true
		}
	}
	return "", false
}

func claimOf(spec corev1.PodSpec, vol string) string {
	for _, v := range spec.Volumes {
		if v.Name == vol && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

// The push job splits the plan job's output in as many shares as it runs
// pods, each pod its own.
func TestIndexedJobTakesThePlanInShares(t *testing.T) {
	plan, push := job(t, "plan-job.yaml"), job(t, "push-job.yaml")
	pc, uc := plan.Spec.Template.Spec.Containers[0], push.Spec.Template.Spec.Containers[0]
	if push.Spec.CompletionMode == nil || *push.Spec.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("push job is not Indexed")
	}
	if push.Spec.Completions == nil || push.Spec.Parallelism == nil || *push.Spec.Completions != *push.Spec.Parallelism {
		t.Errorf("completions and parallelism differ: shares would wait for each other")
	}
	n, _ := flag(uc.Args, "--shards")
	if push.Spec.Completions == nil || n != strconv.Itoa(int(*push.Spec.Completions)) {
		t.Errorf("--shards %q for %d completions: some images would have no pod", n, ptrVal(push.Spec.Completions))
	}
	env := false
	for _, e := range uc.Env {
		if e.Name == "JOB_COMPLETION_INDEX" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			env = true
		}
	}
	if !env {
		t.Errorf("push container does not take JOB_COMPLETION_INDEX from the completion-index annotation")
	}
	out, _ := flag(pc.Args, "--output")
	in, _ := flag(uc.Args, "--input")
	if out == "" || in != out {
		t.Errorf("plan writes %q, push reads %q", out, in)
	}
	pv, ok1 := mountOf(pc, out)
	uv, ok2 := mountOf(uc, in)
	if !ok1 || !ok2 || claimOf(plan.Spec.Template.Spec, pv) == "" || claimOf(plan.Spec.Template.Spec, pv) != claimOf(push.Spec.Template.Spec, uv) {
		t.Errorf("plan.jsonl is not on one claim both jobs mount (%s, %s)", pv, uv)
	}
	if o, _ := flag(uc.Args, "--output"); !strings.Contains(o, "$(JOB_COMPLETION_INDEX)") {
		t.Errorf("push --output %q: every pod would write the same file", o)
	}
	if pc.Image != uc.Image {
		t.Errorf("plan and push run different images: %s, %s", pc.Image, uc.Image)
	}
	if push.Spec.PodFailurePolicy == nil {
		t.Errorf("no podFailurePolicy: bad input (exit 2) would be retried")
	}
}

func TestCronJobPlansThenPushes(t *testing.T) {
	objs := objects(t, "cronjob.yaml")
	cj, ok := objs[0].(*batchv1.CronJob)
	if !ok || len(objs) != 1 {
		t.Fatalf("cronjob.yaml: want one CronJob")
	}
	if f := strings.Fields(cj.Spec.Schedule); len(f) != 5 {
		t.Errorf("schedule %q: want 5 cron fields", cj.Spec.Schedule)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q: two runs would push the same images at once", cj.Spec.ConcurrencyPolicy)
	}
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	if len(spec.InitContainers) != 1 || len(spec.Containers) != 1 {
		t.Fatalf("want a plan init container and a push container")
	}
	out, _ := flag(spec.InitContainers[0].Args, "--output")
	in, _ := flag(spec.Containers[0].Args, "--input")
	if spec.InitContainers[0].Command[0] != "ocm-plan" || spec.Containers[0].Command[0] != "ocm-push" || out == "" || in != out {
		t.Errorf("plan writes %q, push reads %q", out, in)
	}
	if _, sharded := flag(spec.Containers[0].Args, "--shards"); sharded {
		t.Errorf("the cron job plans per pod: it must not shard (pods could disagree)")
	}
}

func ptrVal(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
