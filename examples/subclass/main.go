// Command subclass starts children in the subclass style. Run it and each Run method prints the
// name, pid and parent pid of the process it runs in: MyProcess(0) twice, once in the child
// Process-1 and once in the parent (a direct call), then MyProcess(1) to (3) in three children,
// and last Task(Nick) in a child named Nick.
//
// It mirrors Python's
//
//	class MyProcess(Process):
//	    def run(self):
//	        print("run in", os.getpid())
//
//	p1 = MyProcess()
//	p1.start()  # run() in a new process
//	p1.run()    # run() here, in the caller, like any method call
//
// Go has no subclasses: the "subclass" is a type with a Run(ctx) error method, registered with
// mp.RegisterRunner, and its exported fields are the state the parent hands to the child.
//
//	go run ./examples/subclass
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/mp-go/mp"
)

// MyProcess is Python's class MyProcess(Process): its state is a count, set by the parent.
type MyProcess struct {
	Count int
}

// Run is the body of the process.
func (m *MyProcess) Run(ctx context.Context) error {
	report(fmt.Sprintf("MyProcess(%d)", m.Count))
	return nil
}

// Task is Python's class Task(Process), whose constructor takes the process's name.
type Task struct {
	Name string
}

// Run is the body of the process.
func (t *Task) Run(ctx context.Context) error {
	report(fmt.Sprintf("Task(%s)", t.Name))
	return nil
}

// The runner types, registered so that child processes can run them. The handles are another way
// to start them: mp.NewProcess(TaskFunc, &Task{...}).
var (
	MyProcessFunc = mp.RegisterRunner[*MyProcess]("subclass.my_process")
	TaskFunc      = mp.RegisterRunner[*Task]("subclass.task")
)

// report says which process is running a Run method.
func report(who string) {
	fmt.Printf("%s.Run in name=%s pid=%d ppid=%d\n", who, mp.Current().Name, os.Getpid(), os.Getppid())
}

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()
	fmt.Printf("parent: name=%s pid=%d ppid=%d\n", mp.Current().Name, os.Getpid(), os.Getppid())

	fmt.Println("== one child from a Runner ==")
	r := &MyProcess{Count: 0}
	p1 := mp.NewRunnerProcess(r)
	if err := p1.Start(ctx); err != nil { // Run in a new process
		log.Fatal(err)
	}
	if err := r.Run(ctx); err != nil { // Run here, in the parent: a plain method call
		log.Fatal(err)
	}
	fmt.Println("parent: I am the parent")
	if err := p1.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	fmt.Println("== several children from a Runner ==")
	var ps []*mp.Process
	for i := 1; i <= 3; i++ {
		p := mp.NewRunnerProcess(&MyProcess{Count: i})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
		fmt.Printf("parent: started child %d as %s\n", i, p.Name())
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}

	fmt.Println("== Task('Nick') ==")
	// Python's Task('Nick') sets the process name in __init__; here the name is an option.
	nick := mp.NewProcess(TaskFunc, &Task{Name: "Nick"}, mp.WithName("Nick"))
	if err := nick.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := nick.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("parent: %v\n", nick)
}
