package mptest

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestChildrenAndStat(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	pid := cmd.Process.Pid
	kids, err := Children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range kids {
		found = found || k.Pid == pid
	}
	if !found || !Exists(pid) {
		t.Fatalf("Children = %v, Exists = %v; want pid %d listed and existing", kids, Exists(pid), pid)
	}
	if st, ok := Stat(pid); !ok || st.PPid != os.Getpid() {
		t.Fatalf("Stat = %+v, %v", st, ok)
	}
	cmd.Process.Kill()
	// Killed but not yet waited for: a zombie, which Exists does not count.
	deadline := time.Now().Add(5 * time.Second)
	for Exists(pid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st, _ := Stat(pid); st.State != "Z" || Exists(pid) {
		t.Fatalf("after kill: %+v exists %v; want a zombie that does not count", st, Exists(pid))
	}
	if err := CheckNoChildren(50 * time.Millisecond); err == nil {
		t.Fatal("CheckNoChildren found no child while a zombie is unreaped")
	}
	cmd.Wait()
	if err := CheckNoChildren(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
