// Command subclass starts children in the subclass style: seed 000 §3.2 and §3.4, where a class
// MyProcess(Process) overrides run(), and seed 004's class Task(Process) started as Task('Nick').
//
// In Go the "subclass" is a type with a Run(ctx) error method, registered with
// mp.RegisterRunner; its exported fields are the state the parent hands to the child. As in the
// seed, Start runs Run in a new process, while calling Run directly (the seed's p1.run()) runs it
// in the current process, like any method call.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/mp-go/mp"
)

// MyProcess is seed 000's class MyProcess(Process).
type MyProcess struct {
	Count int
}

// Run is the body of the process.
func (m *MyProcess) Run(ctx context.Context) error {
	report(fmt.Sprintf("MyProcess(%d)", m.Count))
	return nil
}

// Task is seed 004's class Task(Process), whose constructor takes a name.
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

	fmt.Println("== one child from a Runner (seed 000 §3.2) ==")
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

	fmt.Println("== several children from a Runner (seed 000 §3.4) ==")
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

	fmt.Println("== Task('Nick') (seed 004) ==")
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
