package mp_test

import (
	"context"
	"fmt"
	"os"

	"github.com/mp-go/mp"
)

func runHelper(name string) {}

func noInitMain() {
	ctx := context.Background()
	p := mp.NewProcess(Empty, struct{}{})
	err := p.Start(ctx)
	fmt.Println("UNREACHABLE: the child started a child of its own:", err)
	os.Exit(0)
}
